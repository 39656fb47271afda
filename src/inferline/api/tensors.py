"""Named tensors of the Open Inference Protocol (KServe v2) mapped onto model schemas.

A model's input and output schemas are Pydantic models; each field whose type has
a tensor form becomes a tensor of the same name, with the batch as its first
dimension:

    str, Literal of str       BYTES   [-1]
    bool                      BOOL    [-1]
    int                       INT64   [-1]
    float                     FP64    [-1]       (FP32 where the field says so)
    list of int or float      as above, [-1, -1] (one row per batch item)

A field whose type has no tensor form (a list of chat messages, say) is left out;
a model with a required input of that kind has no tensor form at all and is not
served over v2. A field can ask for another datatype with
`Field(json_schema_extra={"tensor_datatype": "FP32"})` (embeddings do: half the
bytes, and the precision the model computes in).

Tensor data arrive as JSON (`data`, row-major, flat or nested) or, with the binary
tensor data extension, as raw little-endian bytes after the JSON header
(`Inference-Header-Content-Length`); BYTES elements are each a 4-byte little-endian
length and the bytes. Outputs are sent either way, as the request asks.
"""

from __future__ import annotations

import enum
import json
import struct
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel

from inferline.domain.errors import InvalidInput

BINARY_HEADER = "Inference-Header-Content-Length"

NUMPY_TYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_INTEGER_TYPES = frozenset(t for t in NUMPY_TYPES if "INT" in t)
_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
# What a client may send for a field of each datatype (numbers widen; nothing narrows
# silently: a float sent for an int field is refused).
_ACCEPTS: dict[str, frozenset[str]] = {
    "BYTES": frozenset({"BYTES"}),
    "BOOL": frozenset({"BOOL"}),
    "INT64": _INTEGER_TYPES,
    "FP64": _INTEGER_TYPES | _FLOAT_TYPES,
    "FP32": _INTEGER_TYPES | _FLOAT_TYPES,
}


@dataclass(frozen=True)
class TensorField:
    """One schema field as a tensor: its name, datatype, and whether each batch item
    holds a vector (`[-1, -1]`) or a scalar (`[-1]`)."""

    name: str
    datatype: str
    vector: bool
    required: bool

    @property
    def shape(self) -> list[int]:
        return [-1, -1] if self.vector else [-1]

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


@dataclass(frozen=True)
class TensorForm:
    """A model's inputs and outputs as tensors."""

    inputs: list[TensorField]
    outputs: list[TensorField]


def tensor_form(input_schema: type[BaseModel], output_schema: type[BaseModel]) -> TensorForm | None:
    """The tensors of a model, or None when a required input has no tensor form."""
    inputs = _tensor_fields(input_schema)
    if inputs is None:
        return None
    outputs = _tensor_fields(output_schema) or []
    if not outputs:
        return None
    return TensorForm(inputs, outputs)


def _tensor_fields(schema: type[BaseModel]) -> list[TensorField] | None:
    fields: list[TensorField] = []
    for name, info in schema.model_fields.items():
        kind = _kind_of(info.annotation)
        if kind is None:
            if info.is_required():
                return None
            continue
        datatype, vector = kind
        extra = info.json_schema_extra
        if isinstance(extra, dict) and isinstance(extra.get("tensor_datatype"), str):
            datatype = str(extra["tensor_datatype"])
        fields.append(TensorField(name, datatype, vector, info.is_required()))
    return fields


def _kind_of(annotation: Any) -> tuple[str, bool] | None:
    scalar = _scalar_type(annotation)
    if scalar is not None:
        return scalar, False
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (list, Sequence) and len(get_args(annotation)) == 1:
        element = _scalar_type(get_args(annotation)[0])
        if element in ("INT64", "FP64"):
            return element, True
    return None


def _scalar_type(annotation: Any) -> str | None:
    annotation = _unwrap(annotation)
    if annotation is bool:
        return "BOOL"
    if annotation is int:
        return "INT64"
    if annotation is float:
        return "FP64"
    if annotation is str:
        return "BYTES"
    if get_origin(annotation) is Literal and all(isinstance(a, str) for a in get_args(annotation)):
        return "BYTES"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "BYTES" if issubclass(annotation, str) else None
    return None


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` is X; `X | None` is X."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation


# -- requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class InferRequest:
    """A decoded v2 inference request: one input dict per batch item, and the
    outputs to send (name -> binary or not)."""

    id: str | None
    items: list[dict[str, Any]]
    outputs: dict[str, bool] | None
    binary_by_default: bool


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON header and the binary tensor data after it."""
    if header_length is None:
        return _json_object(body), b""
    try:
        length = int(header_length)
    except ValueError:
        raise InvalidInput(f"{BINARY_HEADER} must be an integer, not {header_length!r}") from None
    if not 0 <= length <= len(body):
        raise InvalidInput(f"{BINARY_HEADER} is {length}, but the body has {len(body)} bytes")
    return _json_object(body[:length]), body[length:]


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the request is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("the request must be a JSON object")
    return parsed


def decode_request(form: TensorForm, header: dict[str, Any], binary: bytes) -> InferRequest:
    """Check the request's tensors against the model's and cut them into items."""
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("`inputs` must be a non-empty list of tensors")
    fields = {f.name: f for f in form.inputs}
    columns: dict[str, np.ndarray] = {}
    offset = 0
    batch: int | None = None
    for raw in raw_inputs:
        tensor = _tensor_header(raw, "input")
        name = tensor["name"]
        field = fields.get(name)
        if field is None:
            raise InvalidInput(
                f"unknown input {name!r}; this model takes {', '.join(sorted(fields))}"
            )
        if name in columns:
            raise InvalidInput(f"input {name!r} is given twice")
        datatype = tensor["datatype"]
        if datatype not in _ACCEPTS[field.datatype]:
            raise InvalidInput(f"input {name!r} must be {field.datatype}, not {datatype}")
        shape = tensor["shape"]
        size = _binary_size(tensor)
        if size is not None:
            if offset + size > len(binary):
                raise InvalidInput(
                    f"input {name!r} says {size} binary bytes, but only "
                    f"{len(binary) - offset} remain"
                )
            array = _from_binary(binary[offset : offset + size], datatype, shape, name)
            offset += size
        else:
            array = _from_json(tensor.get("data"), datatype, shape, name)
        array = _as_rows(array, field, name)
        if batch is None:
            batch = array.shape[0]
        elif array.shape[0] != batch:
            raise InvalidInput(
                f"input {name!r} has {array.shape[0]} rows, the others {batch}: "
                "the first dimension is the batch and must agree"
            )
        columns[name] = array
    if offset != len(binary):
        raise InvalidInput(f"{len(binary) - offset} bytes of binary data belong to no input")
    missing = [f.name for f in form.inputs if f.required and f.name not in columns]
    if missing:
        raise InvalidInput(f"missing input {', '.join(repr(m) for m in missing)}")
    assert batch is not None
    if batch == 0:
        raise InvalidInput("the batch is empty: the first dimension must be at least 1")
    items = [
        {name: _python_value(column[row], fields[name]) for name, column in columns.items()}
        for row in range(batch)
    ]
    return InferRequest(
        id=_optional_str(header.get("id"), "id"),
        items=items,
        outputs=_requested_outputs(header.get("outputs"), form),
        binary_by_default=_binary_output_default(header),
    )


def _tensor_header(raw: Any, kind: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidInput(f"each {kind} must be an object with name, datatype and shape")
    name = raw.get("name")
    if not isinstance(name, str):
        raise InvalidInput(f"an {kind} has no `name`")
    datatype = raw.get("datatype")
    if datatype != "BYTES" and datatype not in NUMPY_TYPES:
        raise InvalidInput(f"{kind} {name!r} has an unknown datatype {datatype!r}")
    shape = raw.get("shape")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise InvalidInput(f"{kind} {name!r} needs a `shape`: a list of sizes, batch first")
    return raw


def _binary_size(tensor: dict[str, Any]) -> int | None:
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput(f"`parameters` of input {tensor['name']!r} must be an object")
    size = parameters.get("binary_data_size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f"binary_data_size of input {tensor['name']!r} must be a size")
    return size


def _from_binary(raw: bytes, datatype: str, shape: list[int], name: str) -> np.ndarray:
    count = int(np.prod(shape))
    if datatype == "BYTES":
        elements: list[bytes] = []
        position = 0
        while position < len(raw):
            if position + 4 > len(raw):
                raise InvalidInput(f"input {name!r}: a BYTES element is cut short")
            (length,) = struct.unpack_from("<I", raw, position)
            position += 4
            if position + length > len(raw):
                raise InvalidInput(f"input {name!r}: a BYTES element is cut short")
            elements.append(raw[position : position + length])
            position += length
        if len(elements) != count:
            raise InvalidInput(f"input {name!r} has {len(elements)} elements, its shape {count}")
        array = np.empty(count, dtype=object)
        array[:] = elements
        return array.reshape(shape)
    dtype = NUMPY_TYPES[datatype]
    if len(raw) != count * dtype.itemsize:
        raise InvalidInput(
            f"input {name!r}: shape {shape} of {datatype} is {count * dtype.itemsize} "
            f"bytes, not {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _from_json(data: Any, datatype: str, shape: list[int], name: str) -> np.ndarray:
    if not isinstance(data, list):
        raise InvalidInput(f"input {name!r} has no `data` (nor binary_data_size)")
    if datatype == "BYTES":
        flat = _flatten(data)
        if not all(isinstance(e, str) for e in flat):
            raise InvalidInput(f"input {name!r}: BYTES data must be strings")
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
    else:
        try:
            array = np.asarray(_flatten(data), dtype=NUMPY_TYPES[datatype])
        except (TypeError, ValueError, OverflowError):
            raise InvalidInput(f"input {name!r}: data are not {datatype} values") from None
    if array.size != int(np.prod(shape)):
        raise InvalidInput(
            f"input {name!r} has {array.size} values, its shape {shape} says {int(np.prod(shape))}"
        )
    return array.reshape(shape)


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for element in data:
        if isinstance(element, list):
            flat.extend(_flatten(element))
        else:
            flat.append(element)
    return flat


def _as_rows(array: np.ndarray, field: TensorField, name: str) -> np.ndarray:
    """The array as `[batch]` for a scalar field (a trailing 1 is dropped) or
    `[batch, length]` for a vector field."""
    if field.vector:
        if array.ndim != 2:
            raise InvalidInput(
                f"input {name!r} must have shape [batch, length], not {list(array.shape)}"
            )
        return array
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    if array.ndim != 1:
        raise InvalidInput(
            f"input {name!r} must have shape [batch] or [batch, 1], not {list(array.shape)}"
        )
    return array


def _python_value(value: Any, field: TensorField) -> Any:
    if field.datatype == "BYTES":
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"input {field.name!r} is not UTF-8 text") from None
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value


def _optional_str(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput(f"`{name}` must be a string")


def _requested_outputs(raw: Any, form: TensorForm) -> dict[str, bool] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidInput("`outputs` must be a list of {name, parameters}")
    names = {f.name for f in form.outputs}
    requested: dict[str, bool] = {}
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidInput("each requested output needs a `name`")
        if item["name"] not in names:
            raise InvalidInput(
                f"unknown output {item['name']!r}; this model gives {', '.join(sorted(names))}"
            )
        parameters = item.get("parameters") or {}
        requested[item["name"]] = bool(parameters.get("binary_data", False))
    return requested


def _binary_output_default(header: dict[str, Any]) -> bool:
    parameters = header.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput("`parameters` must be an object")
    return bool(parameters.get("binary_data_output", False))


# -- responses -----------------------------------------------------------------------


def encode_response(
    form: TensorForm,
    request: InferRequest,
    results: Sequence[Mapping[str, Any]],
    *,
    model_name: str,
    model_version: str,
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follow it."""
    fields = form.outputs
    if request.outputs is not None:
        fields = [f for f in fields if f.name in request.outputs]
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for field in fields:
        array = _output_array(field, [result[field.name] for result in results])
        binary = (
            request.outputs[field.name]
            if request.outputs is not None and field.name in request.outputs
            else request.binary_by_default
        )
        tensor: dict[str, Any] = {
            "name": field.name,
            "datatype": field.datatype,
            "shape": list(array.shape),
        }
        if binary:
            chunk = _to_binary(array, field.datatype)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            tensor["data"] = array.reshape(-1).tolist()
        outputs.append(tensor)
    response: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": outputs,
    }
    if request.id is not None:
        response["id"] = request.id
    header = json.dumps(response, separators=(",", ":")).encode()
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)


def _output_array(field: TensorField, values: list[Any]) -> np.ndarray:
    if field.datatype == "BYTES":
        array = np.empty(len(values), dtype=object)
        array[:] = [v.value if isinstance(v, enum.Enum) else str(v) for v in values]
        return array
    rows = [np.asarray(v) for v in values]
    if field.vector and len({row.shape for row in rows}) > 1:
        raise InvalidInput(
            f"output {field.name!r} has rows of different lengths, which a tensor cannot "
            "hold: send items that give outputs of one length in one request"
        )
    return np.stack(rows).astype(NUMPY_TYPES[field.datatype], copy=False)


def _to_binary(array: np.ndarray, datatype: str) -> bytes:
    if datatype != "BYTES":
        return array.astype(NUMPY_TYPES[datatype], copy=False).tobytes()
    parts: list[bytes] = []
    for element in array.reshape(-1):
        raw = element.encode("utf-8") if isinstance(element, str) else bytes(element)
        parts.append(struct.pack("<I", len(raw)) + raw)
    return b"".join(parts)
