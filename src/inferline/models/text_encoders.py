"""Transformer encoders that turn token arrays into hidden states (PyTorch or ONNX Runtime).

Both take packed rows, several texts per row (see `packing`): token ids, position
ids and segment ids as int64 arrays of shape (rows, tokens), from which the model
builds a block-diagonal attention mask. Both return the last hidden state as a
float32 array of shape (rows, tokens, hidden). Pooling happens in the model.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inferline.models.packing import PackedRows, pack

log = logging.getLogger(__name__)


class TextEncoder(Protocol):
    """Packed rows in (several texts per row, see `packing`), last hidden state out."""

    def encode_packed(self, packed: PackedRows) -> np.ndarray: ...


class TorchEncoder:
    """The Hugging Face model on PyTorch (CPU), fed packed rows (no compute on padding).

    By default the forward pass is traced once into a TorchScript graph. A graph runs
    without the GIL from input to output, while eager PyTorch takes the GIL back
    between operators: next to a busy event loop (or any Python thread) that costs
    an eager pass up to the interpreter's 5 ms switch interval per operator (an eager
    MiniLM pass measured 12x slower beside a spinning thread; the graph 1.3x). The
    graph is checked against eager mode on a probe batch at load; when tracing is
    unavailable or the check fails, the encoder stays eager and says so in the log.
    """

    def __init__(self, model_dir: Path, *, torchscript: bool = True) -> None:
        import torch
        from transformers import AutoModel

        self._torch = torch
        model = AutoModel.from_pretrained(str(model_dir)).eval()
        model.requires_grad_(False)
        eager = packed_forward(torch, model)
        graph = _traced(torch, eager) if torchscript else None
        self.mode = "eager" if graph is None else "torchscript"
        self._forward = eager if graph is None else graph
        log.info("PyTorch encoder mode: %s", self.mode)

    def encode_packed(self, packed: PackedRows) -> np.ndarray:
        """Hidden states of packed rows; each token attends only to its own text's tokens."""
        torch = self._torch
        with torch.inference_mode():
            hidden = self._forward(*_tensors(torch, packed))
        result: np.ndarray = hidden.numpy()
        return result


def packed_forward(torch: Any, model: Any) -> Any:
    """The model as a module of (input_ids, position_ids, segment_ids) -> last hidden state
    (what is traced into TorchScript here and exported to ONNX by `onnx_export`)."""

    class PackedForward(torch.nn.Module):  # type: ignore[misc]  # torch is imported lazily (Any)
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, position_ids: Any, segment_ids: Any) -> Any:
            same_text = segment_ids[:, None, :, None] == segment_ids[:, None, None, :]
            output = self.model(
                input_ids=input_ids,
                attention_mask=same_text,  # (rows, 1, w, w): a 4-D mask is used as given
                position_ids=position_ids,
                token_type_ids=torch.zeros_like(input_ids),
            )
            return output.last_hidden_state

    return PackedForward().eval()


def _traced(torch: Any, eager: Any) -> Any:
    """`eager` traced and frozen into a TorchScript graph, if it agrees with eager mode."""
    example = example_rows(torch)
    probe = probe_rows(torch, [30, 9, 9, 5, 3], width=32)  # other shapes than the example
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings; TorchScript is deprecated
            graph = torch.jit.freeze(torch.jit.trace(eager, example, check_trace=False))
            gap = float((eager(*probe) - graph(*probe)).abs().max())
    except Exception as exc:  # a torch without TorchScript, or a model it cannot trace
        log.warning("TorchScript tracing failed (%s); the encoder runs eager", exc)
        return None
    if gap > 1e-4:
        log.warning("the traced graph differs from eager mode by %g; running eager", gap)
        return None
    return graph


def example_rows(torch: Any) -> tuple[Any, ...]:
    """The input that graphs are traced and exported from: two rows, one with a padded tail."""
    return probe_rows(torch, [12, 7, 4], width=16)


def probe_rows(torch: Any, lengths: list[int], width: int) -> tuple[Any, ...]:
    """Packed rows of made-up token ids, as tensors (to trace, export and check graphs)."""
    rng = np.random.default_rng(len(lengths))
    return _tensors(torch, pack([list(rng.integers(1000, 20000, n)) for n in lengths], width))


def _tensors(torch: Any, packed: PackedRows) -> tuple[Any, ...]:
    return (
        torch.from_numpy(packed.input_ids),
        torch.from_numpy(packed.position_ids),
        torch.from_numpy(packed.segment_ids),
    )


class OnnxEncoder:
    """The same packed forward pass, exported to ONNX (see `onnx_export`), on ONNX Runtime."""

    def __init__(self, onnx_path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )

    def encode_packed(self, packed: PackedRows) -> np.ndarray:
        """Hidden states of packed rows; each token attends only to its own text's tokens."""
        feed = {
            "input_ids": packed.input_ids,
            "position_ids": packed.position_ids,
            "segment_ids": packed.segment_ids,
        }
        hidden: np.ndarray = self._session.run(["last_hidden_state"], feed)[0]
        return hidden
