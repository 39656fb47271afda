"""The `moving-average` model: results, and inputs that would overflow are refused."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from inferline.models.moving_average import MovingAverage, MovingAverageInput
from inferline.models.series import MAX_VALUE_MAGNITUDE


def test_means_of_each_window_and_the_last_as_forecast() -> None:
    [output] = MovingAverage().predict_batch([MovingAverageInput(series=[1, 2, 3, 4], window=2)])
    assert output.smoothed == [1.5, 2.5, 3.5] and output.forecast == 3.5


def test_the_largest_accepted_values_stay_finite() -> None:
    series = [MAX_VALUE_MAGNITUDE, -MAX_VALUE_MAGNITUDE] * 50_000  # the longest series
    [output] = MovingAverage().predict_batch([MovingAverageInput(series=series, window=1)])
    assert all(math.isfinite(value) for value in output.smoothed)


def test_values_that_would_overflow_are_refused_naming_the_item() -> None:
    with pytest.raises(ValidationError) as caught:
        MovingAverageInput(series=[1.0, 1.7e308, 1.7e308], window=2)
    assert [error["loc"] for error in caught.value.errors()] == [("series", 1), ("series", 2)]
