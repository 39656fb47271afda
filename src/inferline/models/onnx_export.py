"""Export a Hugging Face encoder to ONNX once, optionally int8-quantise it, cache it on disk.

The recipe that works with transformers 5 here: the legacy TorchScript exporter
(`dynamo=False`, opset 17) over the packed forward pass of `text_encoders`
(token, position and segment ids in, `last_hidden_state` out), dynamic on the row
and token axes.
Files are written to a temporary name and renamed, so a crash never leaves a
half-written model behind and concurrent starts do not corrupt each other.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "inferline" / "onnx"
OPSET = 17
GRAPH = "packed-rows"  # the inputs of the exported graph; a change re-exports


def model_fingerprint(model_dir: Path) -> str:
    """A short hash of the weight and config files, so a new model version re-exports."""
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        path = model_dir / name
        stat = path.stat()
        digest.update(f"{name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    digest.update(f"opset{OPSET}:{GRAPH}".encode())
    return digest.hexdigest()[:16]


Feeds = Callable[[], Iterable[Mapping[str, np.ndarray]]]


def cached_onnx_model(
    model_dir: Path,
    cache_dir: Path | None,
    *,
    prefix: str,
    quantize: bool,
    calibration: Feeds | None = None,
) -> Path:
    """The path of the exported (and maybe quantised) model, exporting on first use.
    With `calibration` (the model's inputs for the calibration text), int8 is
    smoothed first (`smoothquant`); without, it is plain dynamic quantisation."""
    folder = (cache_dir or DEFAULT_CACHE_DIR) / f"{prefix}-{model_fingerprint(model_dir)}"
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model.onnx"
    if not fp32.exists():
        log.info("exporting %s to ONNX at %s (first start)", model_dir.name, fp32)
        _atomic_write(fp32, lambda tmp: export_encoder(model_dir, tmp))
    if not quantize:
        return fp32
    if calibration is None:
        int8 = folder / "model.int8.onnx"
        if not int8.exists():
            log.info("quantising %s to int8 at %s", fp32.name, int8)
            _atomic_write(int8, lambda tmp: quantize_int8(fp32, tmp))
        return int8
    from inferline.models.smoothquant import recipe_fingerprint

    smoothed = folder / f"model.int8-smoothed-{recipe_fingerprint()}.onnx"
    if not smoothed.exists():
        log.info("smoothing and quantising %s to int8 at %s", fp32.name, smoothed)
        _atomic_write(smoothed, lambda tmp: quantize_smoothed_int8(fp32, tmp, calibration()))
    return smoothed


def export_encoder(model_dir: Path, target: Path) -> None:
    """Export the packed forward pass to `target` (ONNX, dynamic rows and tokens)."""
    import torch
    from transformers import AutoModel

    from inferline.models.text_encoders import example_rows, packed_forward

    model = AutoModel.from_pretrained(str(model_dir)).eval()
    names = ["input_ids", "position_ids", "segment_ids"]
    axes = {0: "rows", 1: "tokens"}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            packed_forward(torch, model),
            example_rows(torch),
            str(target),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: axes for name in [*names, "last_hidden_state"]},
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation with per-channel weights (cosine ~0.98 against fp32
    alone; 0.99 after `smoothquant`)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)


def quantize_smoothed_int8(
    source: Path, target: Path, feeds: Iterable[Mapping[str, np.ndarray]]
) -> None:
    """Smooth the activations on the calibration feeds, then quantise (cosine >= 0.99)."""
    from inferline.models.smoothquant import activation_maxima, smooth

    smoothed = target.with_name(f"{target.stem}.smoothed-fp32.onnx")
    try:
        smooth(source, activation_maxima(source, feeds), smoothed)
        quantize_int8(smoothed, target)
    finally:
        smoothed.unlink(missing_ok=True)


def _atomic_write(target: Path, write: Any) -> None:
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.stem}-", suffix=".onnx"
    )
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
