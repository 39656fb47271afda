"""Small real models for tests: they sleep, fail on request and report their batch size."""

from __future__ import annotations

import time

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
