"""Moving average over a series (source S2's `moving_average` model)."""

from __future__ import annotations

import math

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
        smoothed = window_means(item.series, item.window)
        return MovingAverageOutput(smoothed=smoothed, forecast=smoothed[-1])


def window_means(values: list[float], window: int) -> list[float]:
    """The mean of each `window` consecutive values, each window's sum correctly rounded
    (what `math.fsum` of the window gives), divided by `window`.

    Differences of running sums lose small values next to huge ones: after 1e17 the
    running sum of (1e17 + 1) is 1e17, so a later window of ones would average 0. The
    running sums are used only when none of them was rounded (checked in bulk), and the
    exact sliding sum otherwise.
    """
    means = _means_of_exact_prefix_sums(values, window)
    return means if means is not None else _means_of_exact_window_sums(values, window)


def _means_of_exact_prefix_sums(values: list[float], window: int) -> list[float] | None:
    """The means from NumPy's prefix sums, when every prefix sum is exact; else None.

    Whether a step `prefix + value` rounded is its two-sum error (Knuth), computed for
    every step at once. With no error anywhere, each prefix sum is the exact sum, so a
    window's `prefix[end] - prefix[start]` is rounded once, just as `math.fsum` rounds
    it. Series of whole numbers (counts, most test data) take this path.
    """
    series = np.asarray(values, dtype=np.float64)
    prefix = np.cumsum(np.concatenate(([0.0], series)))
    before = prefix[:-1]
    total = before + series
    part = total - before
    error = (before - (total - part)) + (series - part)
    if error.any() or not np.array_equal(total, prefix[1:]):
        return None
    means: list[float] = ((prefix[window:] - prefix[:-window]) / window).tolist()
    return means


def _means_of_exact_window_sums(values: list[float], window: int) -> list[float]:
    """The means from each window's sum kept exact while the window slides.

    The sum is held as non-overlapping partial sums (Shewchuk's algorithm, the one
    `math.fsum` uses): a value entering is added, one leaving is subtracted, both
    without rounding, so each step costs a few float operations however long the
    window, and `math.fsum` rounds the partials once per window.
    """
    partials: list[float] = []
    means: list[float] = []
    for index, value in enumerate(values):
        _add_exactly(partials, value)
        if index >= window:
            _add_exactly(partials, -values[index - window])
        if index >= window - 1:
            means.append(math.fsum(partials) / window)
    return means


def _add_exactly(partials: list[float], value: float) -> None:
    """Add `value` to the exact sum held by `partials` (non-overlapping, increasing
    magnitude), keeping every bit: each step splits a sum into its rounded value and
    the rounding error (two-sum), both of which stay."""
    kept = 0
    for partial in partials:
        if abs(value) < abs(partial):
            value, partial = partial, value
        rounded = value + partial
        error = partial - (rounded - value)
        if error:
            partials[kept] = error
            kept += 1
        value = rounded
    partials[kept:] = [value]
