"""The `moving-average` model: results, and inputs that would overflow are refused."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

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


def test_small_values_after_huge_ones_keep_their_own_means() -> None:
    # A running sum rounds 1e17 + 1 to 1e17: the later windows of ones would average 0.
    [single] = MovingAverage().predict_batch([MovingAverageInput(series=[1e17, 1, 1], window=1)])
    assert single.smoothed == [1e17, 1.0, 1.0]
    assert single.forecast == 1.0
    [pairs] = MovingAverage().predict_batch([MovingAverageInput(series=[1e17, 1, 1, 1], window=2)])
    assert pairs.smoothed == [5e16, 1.0, 1.0]
    assert pairs.forecast == 1.0


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng: rng.choice([1e-3, 1.0, 1e8, 1e16]) * rng.uniform(-1, 1),  # sums round
        lambda rng: float(rng.randint(-1000, 1000)),  # whole numbers: no sum rounds
        lambda rng: rng.randint(-1000, 1000) / 10,  # decimals: some sums round
    ],
    ids=["mixed-magnitudes", "whole-numbers", "decimals"],
)
def test_each_mean_is_its_windows_correctly_rounded_sum_divided(
    draw: Callable[[random.Random], float],
) -> None:
    rng = random.Random(10)
    series = [draw(rng) for _ in range(500)]
    for window in (1, 2, 7, 64, 500):
        [output] = MovingAverage().predict_batch([MovingAverageInput(series=series, window=window)])
        expected = [
            math.fsum(series[i : i + window]) / window for i in range(len(series) - window + 1)
        ]
        assert output.smoothed == expected
