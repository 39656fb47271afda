"""Transformer encoders that turn token arrays into hidden states (PyTorch or ONNX Runtime).

An encoder takes `input_ids`, `attention_mask` and `token_type_ids` as int64
arrays of shape (batch, tokens) and returns the last hidden state as a float32
array of shape (batch, tokens, hidden). Pooling happens in the model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np


class TextEncoder(Protocol):
    """Token arrays in, last hidden state out."""

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray
    ) -> np.ndarray: ...


class TorchEncoder:
    """The Hugging Face model on PyTorch (CPU), as sentence-transformers runs it."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModel

        self._torch = torch
        self._model = AutoModel.from_pretrained(str(model_dir)).eval()
        self._model.requires_grad_(False)

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray
    ) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            output = self._model(
                input_ids=torch.from_numpy(input_ids),
                attention_mask=torch.from_numpy(attention_mask),
                token_type_ids=torch.from_numpy(token_type_ids),
            )
        hidden: np.ndarray = output.last_hidden_state.numpy()
        return hidden


class OnnxEncoder:
    """An exported ONNX graph of the same model on ONNX Runtime (CPU)."""

    def __init__(self, onnx_path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray
    ) -> np.ndarray:
        feed = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
        }
        outputs = self._session.run(
            ["last_hidden_state"], {k: v for k, v in feed.items() if k in self._inputs}
        )
        hidden: np.ndarray = outputs[0]
        return hidden
