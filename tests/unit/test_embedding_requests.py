"""Embedding request validation, the cache entry codec and cache keys."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from inferline.api.embedding_schemas import (
    BatchEmbedRequest,
    ItemRequest,
    OpenAIEmbeddingsRequest,
    SearchRequest,
    SimilarityRequest,
)
from inferline.application.embeddings import cache_key, decode_entry, encode_entry
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
