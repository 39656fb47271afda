"""Small real models for tests: they sleep, fail on request, report their batch size, or
wait at a gate the test opens."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pydantic import Field, model_validator

from inferline.ports.model import InferenceModel, ModelInput, ModelOutput


class ProbeInput(ModelInput):
    """A value to double; `fail` makes the model raise for this item; `sleep_ms` slows the batch."""

    value: float
    fail: bool = False
    sleep_ms: int = Field(default=0, ge=0, le=60_000)


class ProbeOutput(ModelOutput):
    """Twice the value, and the size of the batch the item ran in."""

    doubled: float
    batch_size: int


class ProbeModel(InferenceModel):
    """Doubles values; raises for a batch containing any `fail` item."""

    name = "test-probe"
    version = "7"
    input_schema = ProbeInput
    output_schema = ProbeOutput
    max_batch_size = 8
    max_wait_ms = 20.0

    def predict_batch(self, inputs: list[ProbeInput]) -> list[ProbeOutput]:
        pause = max(item.sleep_ms for item in inputs)
        if pause:
            time.sleep(pause / 1000)
        if any(item.fail for item in inputs):
            raise RuntimeError("asked to fail")
        return [ProbeOutput(doubled=2 * item.value, batch_size=len(inputs)) for item in inputs]


PROBE_PLUGIN = "tests.support.models:ProbeModel"


class SlowLoadingModel(ProbeModel):
    """The probe model, but `load()` takes a few seconds (readiness tests)."""

    name = "test-slow-load"
    load_seconds = 3.0

    def load(self) -> None:
        time.sleep(self.load_seconds)


GATE_DIR_ENV = "TEST_GATED_MODEL_DIR"


class GatedInput(ModelInput):
    """A value to double; `hold` makes its batch wait until the test opens the gate."""

    value: float
    hold: bool = False


class GatedModel(InferenceModel):
    """A model the test controls, through files in the directory named by TEST_GATED_MODEL_DIR.

    Each batch first appends its values as one JSON line to `seen.jsonl` (the model's own
    record of what reached it); a batch with a `hold` item then waits until the file
    `open` exists. One batch at a time, so items that arrive meanwhile wait in the batcher.
    """

    name = "test-gated"
    version = "1"
    input_schema = GatedInput
    output_schema = ProbeOutput
    max_batch_size = 4
    max_wait_ms = 20.0
    instances = 1
    hold_limit_seconds = 60.0

    def load(self) -> None:
        self.directory = Path(os.environ[GATE_DIR_ENV])

    def predict_batch(self, inputs: list[GatedInput]) -> list[ProbeOutput]:
        with (self.directory / "seen.jsonl").open("a") as record:
            record.write(json.dumps([item.value for item in inputs]) + "\n")
        if any(item.hold for item in inputs):
            self._wait_for_gate()
        return [ProbeOutput(doubled=2 * item.value, batch_size=len(inputs)) for item in inputs]

    def _wait_for_gate(self) -> None:
        gate = self.directory / "open"
        give_up = time.monotonic() + self.hold_limit_seconds
        while not gate.exists():
            if time.monotonic() > give_up:
                raise RuntimeError(f"the gate {gate} was never opened")
            time.sleep(0.005)


GATED_PLUGIN = "tests.support.models:GatedModel"


def seen_values(gate_dir: Path) -> list[list[float]]:
    """The batches (their values) that reached a GatedModel writing to `gate_dir`."""
    record = gate_dir / "seen.jsonl"
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


class BuggyInput(ModelInput):
    """An input whose validator has a bug: `trip` makes it raise a non-validation error."""

    value: float
    trip: bool = False

    @model_validator(mode="after")
    def _buggy_check(self) -> BuggyInput:
        if self.trip:
            raise LookupError("the plugin's validator looked up a key that is not there")
        return self


class BuggyValidationModel(InferenceModel):
    """Doubles values behind a buggy input validator: the server meets an exception
    that is not an Inferline error (an unhandled 500)."""

    name = "test-buggy-input"
    input_schema = BuggyInput
    output_schema = ProbeOutput

    def predict_batch(self, inputs: list[BuggyInput]) -> list[ProbeOutput]:
        return [ProbeOutput(doubled=2 * item.value, batch_size=len(inputs)) for item in inputs]
