"""A small PyTorch LSTM that forecasts the next values of a univariate series.

The network reads the last ``context_length`` values of a series (fewer when the
series is shorter), normalised per series, and predicts the next value; longer
horizons are forecast autoregressively by feeding each prediction back in. A
batch of series of different lengths runs as one packed forward pass, so padding
never changes a result. Weights are trained on synthetic data by
``scripts/train_lstm.py``; see ``docs/models/lstm-forecast.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from inferline.models.series import SeriesValue
from inferline.ports.model import InferenceModel, ModelInput, ModelOutput

MAX_SERIES_LENGTH = 100_000
MAX_HORIZON = 64
WEIGHTS_FORMAT_VERSION = 1
WEIGHTS_PATH = Path(__file__).parent / "weights" / "lstm_forecast.pt"
TRAINING_COMMAND = ".venv/bin/python scripts/train_lstm.py"

# A series whose spread is below this fraction of its largest magnitude counts as flat.
RELATIVE_STD_EPSILON = 1e-8


class LSTMForecastInput(ModelInput):
    """A series (oldest value first) and how many future values to forecast."""

    series: list[SeriesValue] = Field(min_length=2, max_length=MAX_SERIES_LENGTH)
    horizon: int = Field(default=1, ge=1, le=MAX_HORIZON)


class LSTMForecastOutput(ModelOutput):
    """`forecast[k]` is the predicted value `k + 1` steps after the end of the series."""

    forecast: list[float]


def normalisation_stats(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offset and scale along the last axis, so that `(x - offset) / scale` is normalised.

    The offset is the mean and the scale the standard deviation, floored at
    ``RELATIVE_STD_EPSILON`` times the largest magnitude (taken as 1 for an
    all-zero window), so a flat window normalises to zeros. Statistics are computed
    on values divided by that magnitude, so very large values do not overflow; the
    scale is at least the smallest normal float, so subnormal values (5e-324) do not
    underflow it to zero.
    Shapes keep the last axis with size 1. Training and inference both use this
    function, so they normalise identically.
    """
    values = np.asarray(windows, dtype=np.float64)
    magnitude = np.max(np.abs(values), axis=-1, keepdims=True)
    magnitude = np.where(magnitude > 0, magnitude, 1.0)
    unit = values / magnitude
    unit_mean = unit.mean(axis=-1, keepdims=True)
    unit_std = np.maximum(unit.std(axis=-1, keepdims=True), RELATIVE_STD_EPSILON)
    scale = np.maximum(unit_std * magnitude, np.finfo(np.float64).tiny)
    return unit_mean * magnitude, scale


class LSTMNetwork(nn.Module):
    """Stacked LSTM over normalised values with a linear head for the next value."""

    def __init__(self, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_size=1, hidden_size=hidden_size, num_layers=num_layers, batch_first=True
        )
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """Next-value prediction for equal-length windows of shape (batch, length)."""
        output, _ = self.lstm(values.unsqueeze(-1))
        prediction: torch.Tensor = self.head(output[:, -1]).squeeze(-1)
        return prediction

    def forecast(self, contexts: list[torch.Tensor], steps: int) -> torch.Tensor:
        """Forecast `steps` values after each 1-D context (lengths may differ).

        Contexts are right-padded and packed, so each LSTM state is taken at its
        own last real value; then every step feeds the previous prediction back in.
        Returns a (batch, steps) tensor.
        """
        lengths = torch.tensor([len(context) for context in contexts], dtype=torch.int64)
        dtype = self.head.weight.dtype
        padded = torch.zeros(len(contexts), int(lengths.max()), 1, dtype=dtype)
        for row, context in enumerate(contexts):
            padded[row, : len(context), 0] = context
        packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        _, state = self.lstm(packed)
        predictions = [self.head(state[0][-1])]
        for _ in range(steps - 1):
            output, state = self.lstm(predictions[-1].unsqueeze(1), state)
            predictions.append(self.head(output[:, -1]))
        return torch.cat(predictions, dim=1)


def load_network(path: Path) -> tuple[LSTMNetwork, dict[str, Any]]:
    """Build the network from a weights file written by the training script."""
    if not path.is_file():
        raise FileNotFoundError(
            f"LSTM forecast weights not found at {path}; train them with `{TRAINING_COMMAND}`"
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    config: dict[str, Any] = checkpoint["config"]
    if config.get("format_version") != WEIGHTS_FORMAT_VERSION:
        raise ValueError(
            f"{path} has weights format {config.get('format_version')!r}, expected "
            f"{WEIGHTS_FORMAT_VERSION}; retrain with `{TRAINING_COMMAND}`"
        )
    network = LSTMNetwork(hidden_size=config["hidden_size"], num_layers=config["num_layers"])
    network.load_state_dict(checkpoint["state_dict"])
    network.eval()
    network.requires_grad_(False)
    return network, config


class LSTMForecast(InferenceModel):
    """LSTM time-series forecaster with per-series normalisation and packed batching."""

    name = "lstm-forecast"
    version = "1"
    description = (
        "Two-layer PyTorch LSTM forecasting the next 1-64 values of a univariate series "
        "(trained on synthetic sinusoids, trends, seasonality and random walks)."
    )
    aliases = ("lstm_timeseries",)
    input_schema = LSTMForecastInput
    output_schema = LSTMForecastOutput
    max_batch_size = 64
    max_wait_ms = 5.0

    def __init__(self, weights_path: Path = WEIGHTS_PATH) -> None:
        self.weights_path = weights_path
        self._network: LSTMNetwork | None = None
        self.context_length = 0

    def load(self) -> None:
        network, config = load_network(self.weights_path)
        # Float64 keeps results independent of batch composition: in float32, rounding
        # differences of ~1e-7 between batch sizes grow to ~1e-4 over a 64-step
        # autoregressive forecast. The network is small enough for this to be cheap.
        self._network = network.double()
        self.context_length = int(config["context_length"])

    def warmup(self) -> None:
        self.predict_batch([LSTMForecastInput(series=[0.0, 1.0, 0.0, 1.0], horizon=2)])

    def predict_batch(self, inputs: list[LSTMForecastInput]) -> list[LSTMForecastOutput]:
        if self._network is None:
            raise RuntimeError("LSTMForecast.load() must be called before predict_batch()")
        if not inputs:
            return []
        windows = [np.asarray(item.series[-self.context_length :]) for item in inputs]
        stats = [normalisation_stats(window) for window in windows]
        contexts = [
            torch.from_numpy((window - offset) / scale)
            for window, (offset, scale) in zip(windows, stats, strict=True)
        ]
        steps = max(item.horizon for item in inputs)
        with torch.inference_mode():
            normalised = self._network.forecast(contexts, steps).numpy()
        return [
            LSTMForecastOutput(forecast=(row[: item.horizon] * scale + offset).tolist())
            for item, row, (offset, scale) in zip(inputs, normalised, stats, strict=True)
        ]
