"""MiniLM's engines against sentence-transformers: PyTorch (packed rows, as a TorchScript
graph or eager) and ONNX Runtime (fp32, int8).

The ONNX model is exported once into a temporary cache folder and reused.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferline.models.minilm import MiniLM, model_dir
from inferline.models.packing import pack
from inferline.models.text_encoders import TorchEncoder
from inferline.ports.embedding import TextInput

TEXTS = [
    "The cat sits on the mat.",
    "A quick brown fox jumps over the lazy dog near the river bank.",
    "Short.",
    "Inferline serves models through one micro-batcher per model, with a cache in front.",
    " ".join(["overflow"] * 300),
]


@pytest.fixture(scope="module")
def expected() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    vectors: np.ndarray = SentenceTransformer(str(model_dir()), device="cpu").encode(TEXTS)
    return vectors


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


def _embed(model: MiniLM) -> tuple[np.ndarray, list[Any]]:
    model.load()
    outputs = model.predict_batch([TextInput(text=t) for t in TEXTS])
    return np.asarray([o.embedding for o in outputs]), outputs


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cosines: np.ndarray = (a * b).sum(axis=1) / (
        np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    )
    return cosines


@pytest.mark.parametrize("torchscript", [True, False], ids=["torchscript", "eager"])
def test_torch_backend_matches_sentence_transformers(
    expected: np.ndarray, torchscript: bool
) -> None:
    # rows of 24 tokens, one row per pass: several texts share a row, in several passes
    model = MiniLM("torch", pack_width=24, rows_per_pass=1, torchscript=torchscript)
    vectors, outputs = _embed(model)
    assert _cosines(vectors, expected).min() >= 0.9999
    assert [o.truncated for o in outputs] == [False, False, False, False, True]
    assert outputs[4].tokens == MiniLM.max_tokens


def test_the_torchscript_graph_is_used_and_matches_eager_mode() -> None:
    folder = model_dir()
    traced, eager = TorchEncoder(folder), TorchEncoder(folder, torchscript=False)
    assert (traced.mode, eager.mode) == ("torchscript", "eager")
    rng = np.random.default_rng(3)
    packed = pack([list(rng.integers(1000, 20000, n)) for n in (40, 17, 9, 9, 2)], width=48)
    gap = np.abs(traced.encode_packed(packed) - eager.encode_packed(packed)).max()
    assert gap < 1e-4


def test_pooling_on_the_device_matches_pooling_in_numpy() -> None:
    # a GPU pools with torch (index_add) where it computed; the same code runs on the CPU
    encoder = TorchEncoder(model_dir(), torchscript=False)
    rng = np.random.default_rng(5)
    packed = pack([list(rng.integers(1000, 20000, n)) for n in (40, 17, 9, 9, 2, 30)], width=48)
    on_device, in_numpy = encoder.pool_on_device(packed), encoder.mean_states(packed)
    assert on_device.shape == (6, 384)
    assert np.abs(on_device - in_numpy).max() < 1e-5


def test_a_failed_trace_falls_back_to_eager(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracing is not available")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    encoder = TorchEncoder(model_dir())
    assert encoder.mode == "eager"
    assert "TorchScript tracing failed" in caplog.text
    hidden = encoder.encode_packed(pack([[101, 7592, 102]], width=8))
    assert hidden.shape == (1, 3, 384)


@pytest.mark.slow
def test_onnx_fp32_is_exported_once_and_matches(expected: np.ndarray, onnx_dir: Path) -> None:
    vectors, _ = _embed(MiniLM("onnx", onnx_cache_dir=onnx_dir))
    assert _cosines(vectors, expected).min() >= 0.9999
    [exported] = list(onnx_dir.glob("*/model.onnx"))
    stamp = exported.stat().st_mtime_ns
    _embed(MiniLM("onnx", onnx_cache_dir=onnx_dir))  # a second start reuses the file
    assert exported.stat().st_mtime_ns == stamp


def _prose(count: int) -> list[str]:
    """Sentences of the standard library's docstrings: prose that the int8 calibration
    text (Inferline's own docs) never saw."""
    import asyncio
    import collections
    import json
    import pathlib
    import subprocess

    sentences: list[str] = []
    for module in (asyncio, collections, json, pathlib, subprocess):
        for name in sorted(dir(module)):
            doc = inspect.getdoc(getattr(module, name)) or ""
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                if 30 <= len(sentence) <= 300 and sentence not in sentences:
                    sentences.append(sentence)
    return sentences[:count]


@pytest.mark.slow
def test_onnx_int8_stays_close(expected: np.ndarray, onnx_dir: Path) -> None:
    """Smoothed int8 keeps every embedding within 0.985 cosine of sentence-transformers
    (plain dynamic int8 fell to 0.978; smoothed, 0.989-0.993 by the numerics library
    versions: issue 17's 0.99 is not yet met on every text); the smoothed graph is
    fp32-exact before that."""
    from sentence_transformers import SentenceTransformer

    model = MiniLM("onnx", quantize=True, onnx_cache_dir=onnx_dir)
    vectors, _ = _embed(model)
    assert model.variant == "onnx-int8"
    assert _cosines(vectors, expected).min() >= 0.985
    prose = _prose(300)
    assert len(prose) == 300
    reference = SentenceTransformer(str(model_dir()), device="cpu").encode(prose)
    outputs = model.predict_batch([TextInput(text=t) for t in prose])
    assert _cosines(np.asarray([o.embedding for o in outputs]), reference).min() >= 0.985


def test_smoothing_keeps_the_function(onnx_dir: Path, tmp_path: Path) -> None:
    """`(X / s) @ (s * W)` is `X @ W`: the smoothed fp32 graph gives the same states."""
    import onnxruntime as ort

    from inferline.models.smoothquant import activation_maxima, smooth

    model = MiniLM("onnx", onnx_cache_dir=onnx_dir)
    model.load()
    fp32 = next(onnx_dir.rglob("model.onnx"))
    feeds = list(model._calibration_feeds())
    smoothed = tmp_path / "smoothed.onnx"
    smooth(fp32, activation_maxima(fp32, feeds[:2]), smoothed)
    before = ort.InferenceSession(str(fp32)).run(None, feeds[0])[0]
    after = ort.InferenceSession(str(smoothed)).run(None, feeds[0])[0]
    np.testing.assert_allclose(after, before, atol=2e-4)


def test_int8_needs_onnx() -> None:
    with pytest.raises(ValueError, match="needs the onnx backend"):
        MiniLM("torch", quantize=True)
