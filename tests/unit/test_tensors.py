"""The mapping of model schemas onto named tensors (KServe v2), without a server."""

from __future__ import annotations

import json
import struct
from typing import Literal

import numpy as np
import pytest
from pydantic import BaseModel, Field

from inferline.api.tensors import decode_request, encode_response, split_body, tensor_form
from inferline.domain.errors import InvalidInput
from inferline.ports.chat import ChatInput, ChatOutput


class Inputs(BaseModel):
    label: Literal["a", "b"]
    values: list[float] = Field(min_length=1)
    scale: float | None = None
    tags: dict[str, str] = Field(default_factory=dict)  # no tensor form, optional: left out


class Outputs(BaseModel):
    total: float
    label: str
    flags: list[int]


FORM = tensor_form(Inputs, Outputs)


def test_fields_become_tensors_and_untensorable_optional_fields_are_left_out() -> None:
    assert FORM is not None
    assert [f.metadata() for f in FORM.inputs] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "values", "datatype": "FP64", "shape": [-1, -1]},
        {"name": "scale", "datatype": "FP64", "shape": [-1]},
    ]
    assert [f.datatype for f in FORM.outputs] == ["FP64", "BYTES", "INT64"]


def test_a_required_input_without_tensor_form_means_no_tensor_form() -> None:
    assert tensor_form(ChatInput, ChatOutput) is None


def test_binary_and_json_inputs_are_cut_into_items_and_outputs_encoded_both_ways() -> None:
    assert FORM is not None
    labels = b"".join(struct.pack("<I", len(t)) + t for t in (b"a", b"b"))
    values = np.array([[1, 2], [3, 4]], dtype="<f4").tobytes()
    header = {
        "id": "r1",
        "inputs": [
            {
                "name": "label",
                "datatype": "BYTES",
                "shape": [2, 1],
                "parameters": {"binary_data_size": len(labels)},
            },
            {
                "name": "values",
                "datatype": "FP32",
                "shape": [2, 2],
                "parameters": {"binary_data_size": len(values)},
            },
            {"name": "scale", "datatype": "INT8", "shape": [2], "data": [[5], [6]]},
        ],
        "outputs": [{"name": "flags", "parameters": {"binary_data": True}}, {"name": "label"}],
    }
    raw = json.dumps(header).encode()
    parsed, binary = split_body(raw + labels + values, str(len(raw)))
    request = decode_request(FORM, parsed, binary)
    assert request.items == [
        {"label": "a", "values": [1.0, 2.0], "scale": 5},
        {"label": "b", "values": [3.0, 4.0], "scale": 6},
    ]
    body, length = encode_response(
        FORM,
        request,
        [
            {"total": 1.5, "label": "x", "flags": [1, 2]},
            {"total": 2.5, "label": "y", "flags": [3, 4]},
        ],
        model_name="m",
        model_version="1",
    )
    assert length is not None
    response = json.loads(body[:length])
    assert response["id"] == "r1"
    label, flags = response["outputs"]  # in the schema's order
    assert label == {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["x", "y"]}
    assert flags["shape"] == [2, 2] and flags["parameters"]["binary_data_size"] == 32
    assert np.frombuffer(body[length:], dtype="<i8").tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        ({"name": "values", "datatype": "FP64", "shape": [1, 2], "data": [1.0]}, "says 2"),
        ({"name": "values", "datatype": "BYTES", "shape": [1, 1], "data": ["x"]}, "must be FP64"),
        ({"name": "values", "datatype": "FP64", "shape": [1], "data": [1.0]}, "[batch, length]"),
        ({"name": "values", "datatype": "INT4", "shape": [1, 1], "data": [1]}, "unknown datatype"),
        ({"name": "values", "datatype": "FP64", "shape": [-1, 1], "data": [1.0]}, "`shape`"),
        ({"name": "label", "datatype": "BYTES", "shape": [1], "data": [1]}, "must be strings"),
        (
            {
                "name": "values",
                "datatype": "FP64",
                "shape": [1, 1],
                "parameters": {"binary_data_size": 8},
            },
            "only 0 remain",
        ),
    ],
)
def test_bad_tensors_are_refused_with_the_reason(tensor: dict[str, object], message: str) -> None:
    assert FORM is not None
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[")):
        decode_request(FORM, {"inputs": [tensor]}, b"")


def test_missing_required_inputs_and_disagreeing_batches_are_refused() -> None:
    assert FORM is not None
    values = {"name": "values", "datatype": "FP64", "shape": [2, 1], "data": [1.0, 2.0]}
    with pytest.raises(InvalidInput, match="missing input 'label'"):
        decode_request(FORM, {"inputs": [values]}, b"")
    label = {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["a"]}
    with pytest.raises(InvalidInput, match="has 1 rows, the others 2"):
        decode_request(FORM, {"inputs": [values, label]}, b"")
    with pytest.raises(InvalidInput, match="belong to no input"):
        decode_request(
            FORM, {"inputs": [values, {**label, "shape": [2], "data": ["a", "b"]}]}, b"x"
        )
