"""Small real models for tests: they sleep, fail on request and report their batch size."""

from __future__ import annotations

import time

from pydantic import Field

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
