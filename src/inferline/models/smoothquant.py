"""Smoothing before int8: move activation outliers into the weights, then quantise.

Dynamic int8 quantisation gives each activation tensor one scale, computed per
batch from its largest value. In MiniLM a few channels of the feed-forward inputs
run far larger than the rest, so that scale leaves the other channels a handful of
levels: plain quantisation lost up to 0.022 of cosine against the fp32 model
(min 0.978 over the benchmark's 4,000 sentences). Measured per layer, the loss is
spread over the feed-forward MatMuls of the first five layers: keeping the worst six
in fp32 still left 0.993, and each MatMul kept in fp32 cost about 9 % of int8's speed.

SmoothQuant's idea (Xiao et al., 2023) fixes the cause instead: for each MatMul
`X @ W` with constant weights, a per-input-channel factor `s` is chosen from
calibration maxima, `s_j = max|X_j| ** alpha / max|W_j| ** (1 - alpha)`, and the
graph computes `(X / s) @ (s * W)`: the same product in fp32, but activations whose
channels are even and weights that absorb the spread, which per-channel weight
quantisation handles well. The division is one element-wise Mul before the MatMuls
that read an activation (18 in MiniLM), or none where it folds into the weights.

`alpha` 0.8 was the best of 0.15-1.0 on the calibration text that ships here,
Inferline's own documentation (`weights/int8-calibration.txt`, about 800 sentences):
worst cosine 0.9927 on the benchmark's 4,000 sentences and 0.989-0.992 on 2,000
sentences of unrelated prose (it varies with which texts share a batch: a batch's
activations share one scale), every MatMul in int8, at 0.95 of plain int8's speed
(`benchmarks/int8.py`). With 250 sentences of calibration it was 0.9895 on prose.
Choosing alpha per MatMul by its own reconstruction error was worse (0.983): the
end-to-end cosine is what counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ALPHA = 0.8
RECIPE = 2  # raise when `smooth` changes: cached int8 models are then made again
CALIBRATION_TEXT = Path(__file__).parent / "weights" / "int8-calibration.txt"
_FACTOR_RANGE = (1e-2, 1e2)  # a factor outside it would trade one outlier for another


def calibration_sentences(path: Path = CALIBRATION_TEXT) -> list[str]:
    """The calibration text, one sentence per line (lines starting with # are comments)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def recipe_fingerprint(path: Path = CALIBRATION_TEXT) -> str:
    """A short hash of the calibration text, alpha and the recipe: a change re-quantises."""
    digest = hashlib.sha256(path.read_bytes())
    digest.update(f"alpha={ALPHA}:recipe={RECIPE}".encode())
    return digest.hexdigest()[:10]


def activation_maxima(
    model_path: Path, feeds: Iterable[Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The largest absolute value of each input channel of every MatMul with constant
    weights, over the calibration feeds, by the MatMul's node name."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    targets = _weight_matmuls(model)
    for node in targets:
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT, None)
        )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [node.input[0] for node in targets]
    maxima: dict[str, np.ndarray] = {}
    for feed in feeds:
        for node, values in zip(targets, session.run(names, dict(feed)), strict=True):
            channel_max = np.abs(values).reshape(-1, values.shape[-1]).max(axis=0)
            previous = maxima.get(node.name)
            maxima[node.name] = (
                channel_max if previous is None else np.maximum(previous, channel_max)
            )
    if not maxima:
        raise ValueError("no calibration feeds: cannot smooth the model")
    return maxima


def smooth(
    model_path: Path,
    maxima: Mapping[str, np.ndarray],
    target: Path,
    alpha: float = ALPHA,
) -> None:
    """Write the smoothed fp32 model to `target`: the same function, even activations.

    MatMuls that read the same activation (attention's query, key and value) share
    one factor and one Mul. Where the activation is attention's context, the factor
    goes into the value projection instead (its columns and bias: the context's
    channels are the value's, mixed only across tokens), so it costs nothing."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_path))
    weights = {tensor.name: tensor for tensor in model.graph.initializer}
    producers = {output: node for node in model.graph.node for output in node.output}
    readers: dict[str, list[Any]] = {}
    for node in _weight_matmuls(model):
        readers.setdefault(node.input[0], []).append(node)
    for activation, nodes in readers.items():
        arrays = [numpy_helper.to_array(weights[node.input[1]]) for node in nodes]  # (in, out)
        factors = smoothing_factors(maxima[nodes[0].name], arrays, alpha)
        for node, array in zip(nodes, arrays, strict=True):
            _replace(weights, node.input[1], array * factors[:, None])
        value = _value_projection(activation, producers, weights)
        if value is not None:
            weight_name, bias_name = value
            _replace(weights, weight_name, numpy_helper.to_array(weights[weight_name]) / factors)
            _replace(weights, bias_name, numpy_helper.to_array(weights[bias_name]) / factors)
            continue
        inverse = f"{activation}/smoothing"
        model.graph.initializer.append(numpy_helper.from_array(1.0 / factors, inverse))
        smoothed = f"{activation}/smoothed"
        model.graph.node.append(
            onnx.helper.make_node("Mul", [activation, inverse], [smoothed], name=inverse)
        )
        for node in nodes:
            node.input[0] = smoothed
    _sort_topologically(model)
    onnx.save(model, str(target))


def smoothing_factors(
    activation_max: np.ndarray, weights: Sequence[np.ndarray], alpha: float
) -> np.ndarray:
    """`s_j = max|X_j| ** alpha / max|W_j| ** (1 - alpha)` over the weights (in, out)
    that read the activation, kept within a sane range."""
    weight_max = np.max([np.abs(w).max(axis=1) for w in weights], axis=0)
    factors = np.maximum(activation_max, 1e-5) ** alpha / np.maximum(weight_max, 1e-5) ** (
        1 - alpha
    )
    clipped: np.ndarray = np.clip(factors, *_FACTOR_RANGE).astype(np.float32)
    return clipped


def _replace(weights: dict[str, Any], name: str, array: np.ndarray) -> None:
    from onnx import numpy_helper

    weights[name].CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))


def _value_projection(
    activation: str, producers: Mapping[str, Any], weights: Mapping[str, Any]
) -> tuple[str, str] | None:
    """When `activation` is attention's context (reshapes of `probabilities @ values`,
    the values a reshaped `x @ W + b`), the names of W and b; else None."""
    attention = _through_reshapes(activation, producers)
    if attention is None or attention.op_type != "MatMul":
        return None
    bias_add = _through_reshapes(attention.input[1], producers)
    if bias_add is None or bias_add.op_type != "Add":
        return None
    biases = [name for name in bias_add.input if name in weights]
    sources = [producers.get(name) for name in bias_add.input if name not in weights]
    if len(biases) != 1 or len(sources) != 1 or sources[0] is None:
        return None
    projection = sources[0]
    if projection.op_type != "MatMul" or projection.input[1] not in weights:
        return None
    return projection.input[1], biases[0]


def _through_reshapes(name: str, producers: Mapping[str, Any]) -> Any:
    node = producers.get(name)
    while node is not None and node.op_type in ("Reshape", "Transpose"):
        node = producers.get(node.input[0])
    return node


def _weight_matmuls(model: Any) -> list[Any]:
    constants = {tensor.name for tensor in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in constants]


def _sort_topologically(model: Any) -> None:
    """ONNX wants every node after the nodes whose outputs it reads."""
    available = {value.name for value in model.graph.input}
    available |= {tensor.name for tensor in model.graph.initializer}
    pending = list(model.graph.node)
    ordered = []
    while pending:
        waiting = []
        for node in pending:
            if all(not name or name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                waiting.append(node)
        if len(waiting) == len(pending):
            raise ValueError("the graph has a cycle or an input nobody produces")
        pending = waiting
    del model.graph.node[:]
    model.graph.node.extend(ordered)
