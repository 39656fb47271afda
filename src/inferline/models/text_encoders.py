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

from inferline.models.packing import PackedRows, mean_pool, pack

log = logging.getLogger(__name__)


class TextEncoder(Protocol):
    """Packed rows in (several texts per row, see `packing`), last hidden state out."""

    def encode_packed(self, packed: PackedRows) -> np.ndarray: ...

    def mean_states(self, packed: PackedRows) -> np.ndarray:
        """The mean hidden state of each text of the rows: (len(packed.spans), hidden)."""
        ...


class TorchEncoder:
    """The Hugging Face model on PyTorch, on the CPU (fp32) or a CUDA GPU (fp16), fed
    packed rows (no compute on padding).

    By default the forward pass is traced once into a TorchScript graph. A graph runs
    without the GIL from input to output, while eager PyTorch takes the GIL back
    between operators: next to a busy event loop (or any Python thread) that costs
    an eager pass up to the interpreter's 5 ms switch interval per operator (an eager
    MiniLM pass measured 12x slower beside a spinning thread; the graph 1.3x). The
    graph is checked against eager mode on a probe batch at load; when tracing is
    unavailable or the check fails, the encoder stays eager and says so in the log.
    """

    def __init__(self, model_dir: Path, *, torchscript: bool = True, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModel

        self._torch = torch
        self.device = torch.device(device)
        dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        model = AutoModel.from_pretrained(str(model_dir), dtype=dtype).to(self.device).eval()
        model.requires_grad_(False)
        eager = packed_forward(torch, model)
        graph = _traced(torch, eager, self.device) if torchscript else None
        self.mode = "eager" if graph is None else "torchscript"
        self._forward = eager if graph is None else graph
        log.info("PyTorch encoder on %s (%s), mode: %s", self.device, dtype, self.mode)

    def encode_packed(self, packed: PackedRows) -> np.ndarray:
        """Hidden states of packed rows (float32); each token attends only to its own
        text's tokens."""
        torch = self._torch
        with torch.inference_mode():
            hidden = self._forward(*_tensors(torch, packed, self.device))
            result: np.ndarray = hidden.float().cpu().numpy()
        return result

    def mean_states(self, packed: PackedRows) -> np.ndarray:
        """Mean hidden state per text. On a GPU the means are taken there (one sum per
        text with index_add), so only (texts, hidden) floats come back to the CPU."""
        if self.device.type == "cpu":
            return mean_pool(self.encode_packed(packed), packed.spans)
        return self.pool_on_device(packed)

    def pool_on_device(self, packed: PackedRows) -> np.ndarray:
        """`mean_states` computed on the encoder's device (any device, the CPU included)."""
        torch = self._torch
        ordinal = np.full(packed.segment_ids.shape, -1, dtype=np.int64)  # text per token
        for number, span in enumerate(packed.spans):
            ordinal[span.row, span.start : span.start + span.length] = number
        lengths = np.array([span.length for span in packed.spans], dtype=np.float32)
        with torch.inference_mode():
            hidden = self._forward(*_tensors(torch, packed, self.device))
            index = torch.from_numpy(ordinal.reshape(-1)).to(self.device)
            real = index >= 0
            states = hidden.reshape(-1, hidden.shape[-1])[real].float()
            sums = torch.zeros((len(lengths), states.shape[-1]), device=self.device)
            sums.index_add_(0, index[real], states)
            means = sums / torch.from_numpy(lengths).to(self.device)[:, None]
            result: np.ndarray = means.cpu().numpy()
        return result

    def warm_shapes(self, width: int, max_rows: int) -> None:
        """One pass for row counts 1, 2, 4, ... up to `max_rows`: a GPU loads kernels
        and picks matrix algorithms on first use of a shape, not in a request."""
        rows = 1
        while rows <= max_rows:
            self.mean_states(pack([[1000 + i % 100 for i in range(width)]] * rows, width))
            rows *= 2


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


def _traced(torch: Any, eager: Any, device: Any) -> Any:
    """`eager` traced and frozen into a TorchScript graph, if it agrees with eager mode
    (within rounding: fp32 on the CPU, fp16 on a GPU, where fused kernels round apart)."""
    example = example_rows(torch, device)
    probe = probe_rows(torch, [30, 9, 9, 5, 3], width=32, device=device)  # other shapes
    tolerance = 1e-4 if device.type == "cpu" else 2e-2
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings; TorchScript is deprecated
            graph = torch.jit.freeze(torch.jit.trace(eager, example, check_trace=False))
            gap = float((eager(*probe) - graph(*probe)).abs().max())
    except Exception as exc:  # a torch without TorchScript, or a model it cannot trace
        log.warning("TorchScript tracing failed (%s); the encoder runs eager", exc)
        return None
    if gap > tolerance:
        log.warning("the traced graph differs from eager mode by %g; running eager", gap)
        return None
    return graph


def example_rows(torch: Any, device: Any = "cpu") -> tuple[Any, ...]:
    """The input that graphs are traced and exported from: two rows, one with a padded tail."""
    return probe_rows(torch, [12, 7, 4], width=16, device=device)


def probe_rows(torch: Any, lengths: list[int], width: int, device: Any = "cpu") -> tuple[Any, ...]:
    """Packed rows of made-up token ids, as tensors (to trace, export and check graphs)."""
    rng = np.random.default_rng(len(lengths))
    packed = pack([list(rng.integers(1000, 20000, n)) for n in lengths], width)
    return _tensors(torch, packed, device)


def _tensors(torch: Any, packed: PackedRows, device: Any = "cpu") -> tuple[Any, ...]:
    arrays = (packed.input_ids, packed.position_ids, packed.segment_ids)
    return tuple(torch.from_numpy(array).to(device) for array in arrays)


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

    def mean_states(self, packed: PackedRows) -> np.ndarray:
        """Mean hidden state per text: (len(packed.spans), hidden)."""
        return mean_pool(self.encode_packed(packed), packed.spans)

    def encode_packed(self, packed: PackedRows) -> np.ndarray:
        """Hidden states of packed rows; each token attends only to its own text's tokens."""
        feed = {
            "input_ids": packed.input_ids,
            "position_ids": packed.position_ids,
            "segment_ids": packed.segment_ids,
        }
        hidden: np.ndarray = self._session.run(["last_hidden_state"], feed)[0]
        return hidden
