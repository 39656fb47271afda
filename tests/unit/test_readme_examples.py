"""The README's LSTM example shows what the shipped model really forecasts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from inferline.models.lstm_forecast import LSTMForecast, LSTMForecastInput

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lstm_example_is_what_the_model_answers() -> None:
    text = README.read_text()
    example = re.search(
        r"lstm-forecast/infer .*?-d '(?P<body>\{.*?\})'\n# (?P<answer>\{.*?\})\n", text, re.S
    )
    assert example, "the README has no lstm-forecast/infer example with its answer"
    body, answer = json.loads(example["body"]), json.loads(example["answer"])
    model = LSTMForecast()
    model.load()
    [output] = model.predict_batch([LSTMForecastInput.model_validate(body["input"])])
    assert answer["model"] == model.name and answer["model_version"] == model.version
    shown = answer["output"]["forecast"]
    assert output.forecast == pytest.approx(shown, abs=0.006)  # shown rounded to 2 decimals
    # and visibly right: the series repeats every 12 values, and the forecast continues
    # it to within 6 % of the series' range
    series = body["input"]["series"]
    spread = max(series) - min(series)
    assert shown == pytest.approx(series[: len(shown)], abs=0.06 * spread)
