"""MiniLM's engines against sentence-transformers: PyTorch and ONNX Runtime (fp32, int8).

The ONNX model is exported once into a temporary cache folder and reused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferline.models.minilm import MiniLM, model_dir
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
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_torch_backend_matches_sentence_transformers(expected: np.ndarray) -> None:
    vectors, outputs = _embed(MiniLM("torch", chunk_size=2))  # chunks of 2: padding per chunk
    assert _cosines(vectors, expected).min() >= 0.9999
    assert [o.truncated for o in outputs] == [False, False, False, False, True]
    assert outputs[4].tokens == MiniLM.max_tokens


@pytest.mark.slow
def test_onnx_fp32_is_exported_once_and_matches(expected: np.ndarray, onnx_dir: Path) -> None:
    vectors, _ = _embed(MiniLM("onnx", onnx_cache_dir=onnx_dir))
    assert _cosines(vectors, expected).min() >= 0.9999
    [exported] = list(onnx_dir.glob("*/model.onnx"))
    stamp = exported.stat().st_mtime_ns
    _embed(MiniLM("onnx", onnx_cache_dir=onnx_dir))  # a second start reuses the file
    assert exported.stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_onnx_int8_stays_close(expected: np.ndarray, onnx_dir: Path) -> None:
    model = MiniLM("onnx", quantize=True, onnx_cache_dir=onnx_dir)
    vectors, _ = _embed(model)
    assert model.variant == "onnx-int8"
    assert _cosines(vectors, expected).min() >= 0.95


def test_int8_needs_onnx() -> None:
    with pytest.raises(ValueError, match="needs the onnx backend"):
        MiniLM("torch", quantize=True)
