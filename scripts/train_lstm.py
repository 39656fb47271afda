"""Train the `lstm-forecast` weights on synthetic series, deterministically.

Generates its own data (sinusoids, linear trends, trend + seasonality, random
walks and white noise, with random periods, phases, amplitudes, offsets and noise
levels), trains the network on windows (context -> next value, normalised per
window exactly as inference normalises; Huber loss), and reports held-out MAE / RMSE against
two baselines (naive last value, mean of the last 3 values) on series generated
with a different seed.

Usage: .venv/bin/python scripts/train_lstm.py [--epochs N] [--seed S] [--out PATH]
Writes PATH (weights + config) and PATH with suffix `.metrics.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    from inferline.models import lstm_forecast
except ModuleNotFoundError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from inferline.models import lstm_forecast

FAMILIES = ("sine", "trend", "trend_seasonal", "random_walk", "white_noise")
CONTEXT_LENGTH = 128
HIDDEN_SIZE = 48
NUM_LAYERS = 2
BATCH_SIZE = 256
STEPS_PER_EPOCH = 100
SERIES_PER_EPOCH = 4096
TRAIN_SERIES_LENGTH = CONTEXT_LENGTH + 64
FULL_CONTEXT_PROBABILITY = 0.6
LEARNING_RATE = 3e-3
EVAL_HORIZON = 8
SHORT_CONTEXT_LENGTH = 24
HOLDOUT_SERIES = 2000
VALIDATION_SERIES = 500
HOLDOUT_SEED_OFFSET = 1000
VALIDATION_SEED_OFFSET = 2000


def generate_series(
    rng: np.random.Generator, count: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """`count` synthetic series of `length` values, and the family index of each."""
    family = rng.integers(0, len(FAMILIES), size=count)
    t = np.arange(length, dtype=np.float64)[None, :]
    amplitude = 10.0 ** rng.uniform(-1.0, 2.0, size=(count, 1))
    offset = rng.uniform(-100.0, 100.0, size=(count, 1))
    period = rng.uniform(4.0, 48.0, size=(count, 1))
    phase = rng.uniform(0.0, 2.0 * math.pi, size=(count, 1))
    slope = amplitude * rng.uniform(-0.05, 0.05, size=(count, 1))
    harmonic = amplitude * rng.uniform(0.0, 0.5, size=(count, 1))
    noise_level = np.where(
        rng.random(size=(count, 1)) < 0.25, 0.0, 10.0 ** rng.uniform(-2.3, -0.5, size=(count, 1))
    )
    noise = rng.standard_normal(size=(count, length)) * amplitude * noise_level
    walk = np.cumsum(rng.standard_normal(size=(count, length)) * amplitude * 0.1, axis=1)
    white = rng.standard_normal(size=(count, length)) * amplitude

    angle = 2.0 * math.pi * t / period + phase
    sine = amplitude * np.sin(angle)
    seasonal = sine + harmonic * np.sin(2.0 * angle) + slope * t
    shapes = np.stack([sine, slope * t, seasonal, walk, white])  # (family, count, length)
    values = offset + shapes[family, np.arange(count)] + noise
    return values, family


def sample_windows(
    rng: np.random.Generator, pool: np.ndarray, batch_size: int, context: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random (context window, next value) pairs from a pool of series."""
    rows = rng.integers(0, pool.shape[0], size=batch_size)
    ends = rng.integers(context, pool.shape[1], size=batch_size)
    columns = ends[:, None] - context + np.arange(context)[None, :]
    return pool[rows[:, None], columns], pool[rows, ends]


def normalise(windows: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise windows (batch, length) and targets (batch, steps) by each window's stats."""
    offset, scale = lstm_forecast.normalisation_stats(windows)
    return (windows - offset) / scale, (targets - offset) / scale


def forecast(network: lstm_forecast.LSTMNetwork, windows: np.ndarray, steps: int) -> np.ndarray:
    """Normalised forecasts for normalised windows, through the inference code path."""
    dtype = network.head.weight.dtype
    contexts = [torch.from_numpy(row).to(dtype) for row in windows]
    with torch.inference_mode():
        result: np.ndarray = network.forecast(contexts, steps).numpy().astype(np.float64)
    return result


def error_metrics(errors: np.ndarray) -> dict[str, float]:
    """MAE and RMSE of errors in normalised units."""
    return {
        "mae": round(float(np.mean(np.abs(errors))), 5),
        "rmse": round(float(np.sqrt(np.mean(errors**2))), 5),
    }


def evaluate(
    network: lstm_forecast.LSTMNetwork, series: np.ndarray, family: np.ndarray, context: int
) -> dict[str, Any]:
    """Held-out metrics of the LSTM and the baselines for one context length."""
    windows = series[:, CONTEXT_LENGTH - context : CONTEXT_LENGTH]
    targets = series[:, CONTEXT_LENGTH : CONTEXT_LENGTH + EVAL_HORIZON]
    inputs, expected = normalise(windows, targets)
    predictions = {
        "lstm": forecast(network, inputs, EVAL_HORIZON),
        "naive_last_value": np.repeat(inputs[:, -1:], EVAL_HORIZON, axis=1),
        "moving_average_3": np.repeat(inputs[:, -3:].mean(axis=1, keepdims=True), EVAL_HORIZON, 1),
    }
    report: dict[str, Any] = {}
    for method, predicted in predictions.items():
        errors = predicted - expected
        report[method] = {
            "horizon_1": error_metrics(errors[:, :1]),
            f"horizon_{EVAL_HORIZON}": error_metrics(errors),
            "horizon_1_mae_by_family": {
                name: round(float(np.mean(np.abs(errors[family == index, 0]))), 5)
                for index, name in enumerate(FAMILIES)
            },
        }
    return report


def train(epochs: int, seed: int, out: Path) -> dict[str, Any]:
    """Train, evaluate, save the weights and metrics; return the metrics."""
    torch.set_num_threads(2)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    validation = generate_series(
        np.random.default_rng(seed + VALIDATION_SEED_OFFSET), VALIDATION_SERIES, CONTEXT_LENGTH + 1
    )
    network = lstm_forecast.LSTMNetwork(hidden_size=HIDDEN_SIZE, num_layers=NUM_LAYERS)
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=epochs * STEPS_PER_EPOCH, eta_min=LEARNING_RATE / 30
    )
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        network.train()
        pool, _ = generate_series(rng, SERIES_PER_EPOCH, TRAIN_SERIES_LENGTH)
        losses = []
        for _ in range(STEPS_PER_EPOCH):
            full = rng.random() < FULL_CONTEXT_PROBABILITY
            context = CONTEXT_LENGTH if full else int(rng.integers(2, CONTEXT_LENGTH))
            windows, targets = sample_windows(rng, pool, BATCH_SIZE, context)
            inputs, expected = normalise(windows, targets[:, None])
            prediction = network(torch.from_numpy(inputs.astype(np.float32)))
            loss = torch.nn.functional.huber_loss(
                prediction, torch.from_numpy(expected[:, 0].astype(np.float32))
            )
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        network.eval()
        inputs, expected = normalise(
            validation[0][:, :CONTEXT_LENGTH], validation[0][:, CONTEXT_LENGTH:]
        )
        val_mae = float(np.mean(np.abs(forecast(network, inputs, 1) - expected)))
        print(
            f"epoch {epoch:3d}/{epochs}  train_huber {np.mean(losses):.4f}  "
            f"val_mae_h1 {val_mae:.4f}  lr {scheduler.get_last_lr()[0]:.2e}  "
            f"elapsed {time.perf_counter() - started:.0f}s",
            flush=True,
        )

    network.eval()
    network.double()  # evaluate in float64, as `LSTMForecast` runs it
    holdout_seed = seed + HOLDOUT_SEED_OFFSET
    holdout, family = generate_series(
        np.random.default_rng(holdout_seed), HOLDOUT_SERIES, CONTEXT_LENGTH + EVAL_HORIZON
    )
    config = {
        "format_version": lstm_forecast.WEIGHTS_FORMAT_VERSION,
        "hidden_size": HIDDEN_SIZE,
        "num_layers": NUM_LAYERS,
        "context_length": CONTEXT_LENGTH,
    }
    metrics = {
        "model": "lstm-forecast",
        "config": config,
        "training": {
            "seed": seed,
            "epochs": epochs,
            "steps_per_epoch": STEPS_PER_EPOCH,
            "batch_size": BATCH_SIZE,
            "series_per_epoch": SERIES_PER_EPOCH,
            "families": list(FAMILIES),
            "seconds": round(time.perf_counter() - started, 1),
            "torch_version": torch.__version__,
        },
        "holdout": {
            "seed": holdout_seed,
            "series": HOLDOUT_SERIES,
            "units": "normalised (error divided by the context's standard deviation)",
            f"context_{CONTEXT_LENGTH}": evaluate(network, holdout, family, CONTEXT_LENGTH),
            f"context_{SHORT_CONTEXT_LENGTH}": evaluate(
                network, holdout, family, SHORT_CONTEXT_LENGTH
            ),
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config, "state_dict": network.float().state_dict()}, out)
    out.with_suffix(".metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=14, help="training epochs (default 14)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and weights")
    parser.add_argument(
        "--out", type=Path, default=lstm_forecast.WEIGHTS_PATH, help="where to write the weights"
    )
    args = parser.parse_args()
    metrics = train(args.epochs, args.seed, args.out)
    summary = metrics["holdout"][f"context_{CONTEXT_LENGTH}"]
    for method, result in summary.items():
        print(
            f"{method:18s} h1 MAE {result['horizon_1']['mae']:.4f}  "
            f"h{EVAL_HORIZON} MAE {result[f'horizon_{EVAL_HORIZON}']['mae']:.4f}"
        )
    print(f"wrote {args.out} and {args.out.with_suffix('.metrics.json')}")


if __name__ == "__main__":
    main()
