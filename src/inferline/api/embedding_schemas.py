"""Request bodies of the OpenAI-compatible embeddings route and the vector collections."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from inferline.api.schemas import MAX_METADATA_KEYS, Strict, exactly_one_of
from inferline.ports.embedding import MAX_TEXT_CHARS
from inferline.ports.vectors import MetadataValue

MAX_OPENAI_INPUTS = 2048
MAX_VECTOR_VALUES = 4096
MAX_UPSERT_ITEMS = 1000
MAX_K = 1000

# Collections store float32 and score with float32 arithmetic: a value of at most 1e15
# keeps every score of up to MAX_VECTOR_VALUES dimensions finite (4096 * 1e30 < 3.4e38).
MAX_VECTOR_MAGNITUDE = 1e15
StoredValue = Annotated[float, Field(ge=-MAX_VECTOR_MAGNITUDE, le=MAX_VECTOR_MAGNITUDE)]
TEXT_OR_VECTOR = ({"text": "string"}, {"vector": "array"})


class OpenAIEmbeddingsRequest(Strict):
    """`POST /v1/embeddings`, as the OpenAI API defines it (strings only, no token arrays)."""

    input: str | list[str] = Field(description="A text or a list of up to 2048 texts.")
    model: str = Field(min_length=1, max_length=128)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = Field(default=None, max_length=256)

    @field_validator("input", mode="before")
    @classmethod
    def _strings_only(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("input must not be an empty list")
            if len(value) > MAX_OPENAI_INPUTS:
                raise ValueError(f"at most {MAX_OPENAI_INPUTS} inputs per request")
            if any(not isinstance(v, str) for v in value):
                raise ValueError(
                    "input must be a string or a list of strings (token arrays are not supported)"
                )
        return value

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


class CollectionRequest(Strict):
    """`PUT /api/v1/collections/{name}`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"dimension": 3}]})

    dimension: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VECTOR_VALUES,
        description="Default: the embedding model's dimension.",
    )
    metric: Literal["cosine", "dot", "l2"] = "cosine"


class ItemRequest(Strict):
    """One item to upsert: an id and exactly one of `text` or `vector`."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of(*TEXT_OR_VECTOR))

    id: str = Field(min_length=1, max_length=256)
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    vector: list[StoredValue] | None = Field(
        default=None, min_length=1, max_length=MAX_VECTOR_VALUES
    )
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=MAX_METADATA_KEYS)

    @model_validator(mode="after")
    def _text_or_vector(self) -> ItemRequest:
        if (self.text is None) == (self.vector is None):
            raise ValueError("give exactly one of text or vector")
        return self


class UpsertRequest(Strict):
    """`POST /api/v1/collections/{name}/items`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"id": "a", "vector": [1.0, 0.0, 0.0], "metadata": {"kind": "x"}},
                        {"id": "b", "vector": [0.0, 1.0, 0.0]},
                    ]
                }
            ]
        }
    )

    items: list[ItemRequest] = Field(min_length=1, max_length=MAX_UPSERT_ITEMS)


class SearchRequest(Strict):
    """`POST /api/v1/collections/{name}/search`: by text or vector, with a metadata filter."""

    model_config = ConfigDict(
        json_schema_extra={
            **exactly_one_of(*TEXT_OR_VECTOR),
            "examples": [{"vector": [1.0, 0.0, 0.0], "k": 2}, {"text": "garden", "k": 2}],
        }
    )

    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    vector: list[StoredValue] | None = Field(
        default=None, min_length=1, max_length=MAX_VECTOR_VALUES
    )
    k: int = Field(default=10, ge=1, le=MAX_K)
    filter: dict[str, MetadataValue] | None = Field(
        default=None, description="Metadata equality: every pair must match."
    )

    @model_validator(mode="after")
    def _text_or_vector(self) -> SearchRequest:
        if (self.text is None) == (self.vector is None):
            raise ValueError("give exactly one of text or vector")
        return self
