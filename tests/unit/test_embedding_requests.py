"""Embedding request validation, the cache entry codec and cache keys."""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema_rs
import numpy as np
import pytest
from pydantic import ValidationError

from inferline.api.embedding_schemas import (
    MAX_VECTOR_MAGNITUDE,
    ItemRequest,
    OpenAIEmbeddingsRequest,
    SearchRequest,
)
from inferline.api.schemas import InferRequest, Strict
from inferline.application.embeddings import (
    EmbeddingService,
    cache_key,
    decode_entry,
    encode_entry,
)
from inferline.apps.embeddings.schemas import BatchEmbedRequest, SimilarityRequest
from inferline.ports.embedding import TextInput


def _message(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return "; ".join(str(e["msg"]) for e in exc.value.errors())


def test_batch_embed_takes_one_to_a_hundred_texts() -> None:
    assert len(BatchEmbedRequest(texts=["x"] * 100).texts) == 100
    with pytest.raises(ValidationError, match="at most 100 items"):
        BatchEmbedRequest(texts=["x"] * 101)
    with pytest.raises(ValidationError, match="at least 1 item"):
        BatchEmbedRequest(texts=[])


def test_similarity_needs_two_texts_or_two_vectors() -> None:
    SimilarityRequest(text1="a", text2="b")
    SimilarityRequest(vector1=[1.0], vector2=[2.0])
    for bad in (
        {"text1": "a"},
        {"text1": "a", "vector2": [1.0]},
        {"text1": "a", "text2": "b", "vector1": [1.0], "vector2": [1.0]},
    ):
        with pytest.raises(ValidationError) as exc:
            SimilarityRequest.model_validate(bad)
        assert "give either text1 and text2, or vector1 and vector2" in _message(exc)


def test_openai_input_is_a_string_or_a_list_of_strings() -> None:
    assert OpenAIEmbeddingsRequest(input="a", model="m").texts() == ["a"]
    assert OpenAIEmbeddingsRequest(input=["a", "b"], model="m").texts() == ["a", "b"]
    with pytest.raises(ValidationError) as exc:
        OpenAIEmbeddingsRequest.model_validate({"input": [[1, 2, 3]], "model": "m"})
    assert "token arrays are not supported" in _message(exc)
    with pytest.raises(ValidationError, match="empty list"):
        OpenAIEmbeddingsRequest(input=[], model="m")
    with pytest.raises(ValidationError, match="'float' or 'base64'"):
        OpenAIEmbeddingsRequest.model_validate(
            {"input": "a", "model": "m", "encoding_format": "int8"}
        )


def test_items_and_searches_take_exactly_one_of_text_or_vector() -> None:
    ItemRequest(id="1", text="t")
    with pytest.raises(ValidationError, match="exactly one of text or vector"):
        ItemRequest(id="1", text="t", vector=[1.0])
    with pytest.raises(ValidationError, match="exactly one of text or vector"):
        SearchRequest(k=3)
    with pytest.raises(ValidationError, match="less than or equal to 1000"):
        SearchRequest(text="t", k=5000)


def _accepts(model: type[Strict], body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("model", "base", "values"),
    [
        (
            SimilarityRequest,
            {},
            {"text1": "a", "text2": "b", "vector1": [1.0], "vector2": [2.0]},
        ),
        (ItemRequest, {"id": "1"}, {"text": "t", "vector": [1.0]}),
        (SearchRequest, {}, {"text": "t", "vector": [1.0]}),
        (InferRequest, {}, {"input": {}, "inputs": [{}]}),
    ],
)
def test_the_json_schema_states_the_one_of_rules(
    model: type[Strict], base: dict[str, Any], values: dict[str, Any]
) -> None:
    """Every mix of given, null and absent fields: the OpenAPI schema and the server agree."""
    validator = jsonschema_rs.validator_for(model.model_json_schema())
    for choice in itertools.product(("given", "null", "absent"), repeat=len(values)):
        body = dict(base)
        for (name, value), how in zip(values.items(), choice, strict=True):
            if how != "absent":
                body[name] = value if how == "given" else None
        assert validator.is_valid(body) == _accepts(model, body), body


def test_collection_vectors_stay_where_float32_scores_are_finite() -> None:
    ItemRequest(id="1", vector=[MAX_VECTOR_MAGNITUDE, -MAX_VECTOR_MAGNITUDE])
    with pytest.raises(ValidationError, match="less than or equal to"):
        ItemRequest(id="1", vector=[1e16])
    with pytest.raises(ValidationError, match="greater than or equal to"):
        SearchRequest(vector=[-1e308])


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ([1.7976931348623157e308, 1e-38, 2.2e-313], [-1e7, -6.6e15, 4.5e16], None),
        ([1e308, 1e308], [1e308, 1e308], 1.0),  # squares overflow a plain formula
        ([5e-324, 0.0], [5e-324, 0.0], 1.0),  # and underflow here
        ([1e308, 0.0], [-1e308, 0.0], -1.0),
    ],
)
def test_vector_similarity_is_finite_near_the_float_limits(
    first: list[float], second: list[float], expected: float | None
) -> None:
    value = EmbeddingService.similarity_of_vectors(first, second)
    assert -1.0 <= value <= 1.0
    if expected is not None:
        assert value == pytest.approx(expected)


def test_blank_text_is_not_a_model_input() -> None:
    with pytest.raises(ValidationError, match="must not be empty or only whitespace"):
        TextInput(text=" \n\t")


def test_cache_entries_round_trip_as_float32() -> None:
    output = {"embedding": [0.5, -0.25, 0.125], "tokens": 7, "truncated": True}
    entry = decode_entry(encode_entry(output))
    assert entry.embedding.dtype == np.float32
    assert entry.embedding.tolist() == [0.5, -0.25, 0.125]
    assert (entry.tokens, entry.truncated, entry.cached) == (7, True, True)


def test_cache_keys_depend_on_model_version_variant_and_text() -> None:
    base = cache_key("minilm", "1", "torch", "hello")
    assert base == cache_key("minilm", "1", "torch", "hello")
    others = {
        cache_key("minilm", "2", "torch", "hello"),
        cache_key("minilm", "1", "onnx", "hello"),
        cache_key("other", "1", "torch", "hello"),
        cache_key("minilm", "1", "torch", "hello "),
    }
    assert base not in others and len(others) == 4
