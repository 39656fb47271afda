"""Moving average over a series (source S2's `moving_average` model)."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from inferline.models.series import SeriesValue
from inferline.ports.model import InferenceModel, ModelInput, ModelOutput

MAX_SERIES_LENGTH = 100_000


class MovingAverageInput(ModelInput):
    """A series and the window to average over."""

    series: list[SeriesValue] = Field(min_length=1, max_length=MAX_SERIES_LENGTH)
    window: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _window_fits(self) -> MovingAverageInput:
        if self.window > len(self.series):
            raise ValueError(
                f"window ({self.window}) is larger than the series ({len(self.series)} values)"
            )
        return self


class MovingAverageOutput(ModelOutput):
    """`smoothed[i]` is the mean of `series[i:i+window]`; `forecast` the mean of the last window."""

    smoothed: list[float]
    forecast: float


class MovingAverage(InferenceModel):
    """Simple moving average and a one-step forecast."""

    name = "moving-average"
    version = "1"
    description = "Simple moving average of a series and a one-step forecast (source S2)."
    aliases = ("moving_average",)
    input_schema = MovingAverageInput
    output_schema = MovingAverageOutput
    max_batch_size = 256
    max_wait_ms = 2.0

    def predict_batch(self, inputs: list[MovingAverageInput]) -> list[MovingAverageOutput]:
        return [self._one(item) for item in inputs]

    @staticmethod
    def _one(item: MovingAverageInput) -> MovingAverageOutput:
        values = np.asarray(item.series, dtype=np.float64)
        sums = np.cumsum(np.concatenate(([0.0], values)))
        smoothed = (sums[item.window :] - sums[: -item.window]) / item.window
        return MovingAverageOutput(smoothed=smoothed.tolist(), forecast=float(smoothed[-1]))
