"""Tests of the `lstm-forecast` model: weights, batching, accuracy, validation."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from inferline.models.lstm_forecast import (
    MAX_HORIZON,
    WEIGHTS_PATH,
    LSTMForecast,
    LSTMForecastInput,
    LSTMForecastOutput,
)


@cache
def loaded_model() -> LSTMForecast:
    """One loaded model shared by the tests (loading is the slow part)."""
    model = LSTMForecast()
    model.load()
    model.warmup()
    return model


def sine(length: int, period: float, phase: float, amplitude: float = 1.0) -> list[float]:
    return [amplitude * math.sin(2 * math.pi * t / period + phase) for t in range(length)]


def test_weights_load_with_their_config() -> None:
    assert WEIGHTS_PATH.is_file()
    model = loaded_model()
    assert model.context_length > 0
    assert model.name == "lstm-forecast"
    assert "lstm_timeseries" in model.aliases


def test_missing_weights_name_the_training_command(tmp_path: Path) -> None:
    model = LSTMForecast(weights_path=tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match=r"scripts/train_lstm\.py"):
        model.load()


def test_predict_before_load_fails_clearly() -> None:
    with pytest.raises(RuntimeError, match="load"):
        LSTMForecast().predict_batch([LSTMForecastInput(series=[1.0, 2.0])])


@pytest.mark.parametrize("horizon", [1, 2, 8, MAX_HORIZON])
def test_output_length_equals_horizon(horizon: int) -> None:
    [output] = loaded_model().predict_batch(
        [LSTMForecastInput(series=sine(50, 12, 0.3), horizon=horizon)]
    )
    assert isinstance(output, LSTMForecastOutput)
    assert len(output.forecast) == horizon
    assert all(math.isfinite(value) for value in output.forecast)


def test_mixed_length_batch_equals_items_predicted_alone() -> None:
    rng = np.random.default_rng(7)
    items = [
        LSTMForecastInput(series=sine(3, 12, 0.1), horizon=5),
        LSTMForecastInput(series=sine(200, 9, 1.0, amplitude=3.0), horizon=1),
        LSTMForecastInput(series=rng.normal(10.0, 2.0, size=17).tolist(), horizon=MAX_HORIZON),
        LSTMForecastInput(series=np.cumsum(rng.normal(size=128)).tolist(), horizon=3),
        LSTMForecastInput(series=[5.0, 5.0, 5.0, 5.0], horizon=2),
        LSTMForecastInput(series=[float(t) * 0.5 - 4.0 for t in range(60)], horizon=7),
    ]
    model = loaded_model()
    batched = model.predict_batch(items)
    alone = [model.predict_batch([item])[0] for item in items]
    assert [len(output.forecast) for output in batched] == [item.horizon for item in items]
    for together, single in zip(batched, alone, strict=True):
        np.testing.assert_allclose(together.forecast, single.forecast, rtol=1e-5, atol=1e-5)


def test_batch_order_does_not_change_results() -> None:
    items = [LSTMForecastInput(series=sine(n, 12, 0.5), horizon=4) for n in (5, 90, 30)]
    model = loaded_model()
    forward = model.predict_batch(items)
    backward = model.predict_batch(items[::-1])[::-1]
    for first, second in zip(forward, backward, strict=True):
        np.testing.assert_allclose(first.forecast, second.forecast, rtol=1e-5, atol=1e-5)


def test_one_step_forecast_of_a_sine_beats_the_naive_forecast() -> None:
    phases = [0.0, 0.7, 1.9, 4.0]
    items = [LSTMForecastInput(series=sine(96, 12, phase)) for phase in phases]
    outputs = loaded_model().predict_batch(items)
    truths = [math.sin(2 * math.pi * 96 / 12 + phase) for phase in phases]
    lstm_errors = [abs(out.forecast[0] - truth) for out, truth in zip(outputs, truths, strict=True)]
    naive_errors = [abs(item.series[-1] - truth) for item, truth in zip(items, truths, strict=True)]
    assert np.mean(lstm_errors) < np.mean(naive_errors)


@pytest.mark.parametrize("value", [3.5, 0.0, -2e6])
def test_a_constant_series_is_forecast_as_constant(value: float) -> None:
    [output] = loaded_model().predict_batch([LSTMForecastInput(series=[value] * 40, horizon=3)])
    np.testing.assert_allclose(output.forecast, [value] * 3, rtol=1e-6, atol=1e-6)


def test_a_long_series_works() -> None:
    series = sine(10_000, 24, 0.2, amplitude=50.0)
    [output] = loaded_model().predict_batch([LSTMForecastInput(series=series, horizon=4)])
    assert len(output.forecast) == 4
    assert all(math.isfinite(value) for value in output.forecast)
    assert max(abs(value) for value in output.forecast) < 100.0


@pytest.mark.parametrize(
    "series",
    [
        [1e300, -1e300],  # the largest accepted values, the widest swing
        [-1e300, 1e300] * 50,
        [5e-324, 0.0, 5e-324],  # subnormal: its spread used to underflow to a zero scale
        [1e200, 1e-200],
    ],
)
def test_extreme_accepted_series_give_finite_forecasts(series: list[float]) -> None:
    item = LSTMForecastInput(series=series, horizon=MAX_HORIZON)
    [output] = loaded_model().predict_batch([item])
    assert all(math.isfinite(value) for value in output.forecast), output.forecast


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"series": []}, "series"),
        ({"series": [1.0]}, "series"),
        ({"series": [1.0, float("nan"), 2.0]}, "series"),
        ({"series": [1.0, 1.7e308]}, "series"),  # beyond MAX_VALUE_MAGNITUDE
        ({"series": [1.0, 2.0], "horizon": 0}, "horizon"),
        ({"series": [1.0, 2.0], "horizon": MAX_HORIZON + 1}, "horizon"),
    ],
)
def test_invalid_inputs_are_rejected(fields: dict[str, object], bad_field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LSTMForecastInput.model_validate(fields)
    errors = caught.value.errors()
    assert errors
    assert all(error["loc"][0] == bad_field for error in errors)


def test_too_large_a_horizon_names_the_limit() -> None:
    with pytest.raises(ValidationError, match=str(MAX_HORIZON)):
        LSTMForecastInput(series=[1.0, 2.0], horizon=MAX_HORIZON + 1)
