"""Request bodies of the embedding routes: source S3, OpenAI-compatible, vector collections."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from inferline.api.schemas import MAX_METADATA_KEYS, Strict, exactly_one_of
from inferline.ports.embedding import MAX_TEXT_CHARS
from inferline.ports.vectors import MetadataValue

MAX_BATCH_TEXTS = 100
MAX_OPENAI_INPUTS = 2048
MAX_VECTOR_VALUES = 4096
MAX_UPSERT_ITEMS = 1000
MAX_K = 1000

# Collections store float32 and score with float32 arithmetic: a value of at most 1e15
# keeps every score of up to MAX_VECTOR_VALUES dimensions finite (4096 * 1e30 < 3.4e38).
MAX_VECTOR_MAGNITUDE = 1e15
StoredValue = Annotated[float, Field(ge=-MAX_VECTOR_MAGNITUDE, le=MAX_VECTOR_MAGNITUDE)]
TEXT_OR_VECTOR = ({"text": "string"}, {"vector": "array"})


class EmbeddingHealth(BaseModel):
    """`GET /healthz` (source S3): whether the embedding model is loaded."""

    status: Literal["healthy", "loading", "failed"]
    model: str
    model_loaded: bool
    error: str | None


class EmbedRequest(Strict):
    """`POST /embed` (source S3)."""

    text: str = Field(max_length=MAX_TEXT_CHARS, description="The text to embed.")
    model: str | None = Field(
        default=None, max_length=128, description="Embedding model; default the configured one."
    )


class BatchEmbedRequest(Strict):
    """`POST /batch-embed` (source S3): 1 to 100 texts."""

    texts: list[str] = Field(min_length=1, max_length=MAX_BATCH_TEXTS)
    model: str | None = Field(default=None, max_length=128)


class SimilarityRequest(Strict):
    """`POST /similarity` (source S3): two texts or two vectors."""

    model_config = ConfigDict(
        json_schema_extra={
            **exactly_one_of(
                {"text1": "string", "text2": "string"}, {"vector1": "array", "vector2": "array"}
            ),
            "examples": [
                {"text1": "a cat sat on the mat", "text2": "a kitten rested on the rug"},
                {"vector1": [1.0, 0.0, 1.0], "vector2": [1.0, 1.0, 0.0]},
            ],
        }
    )

    text1: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    text2: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    vector1: list[float] | None = Field(default=None, min_length=1, max_length=MAX_VECTOR_VALUES)
    vector2: list[float] | None = Field(default=None, min_length=1, max_length=MAX_VECTOR_VALUES)
    model: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _one_pair(self) -> SimilarityRequest:
        texts = self.text1 is not None and self.text2 is not None
        vectors = self.vector1 is not None and self.vector2 is not None
        given = [
            f for f in ("text1", "text2", "vector1", "vector2") if getattr(self, f) is not None
        ]
        if texts == vectors or len(given) != 2:
            raise ValueError(
                "give either text1 and text2, or vector1 and vector2 (got "
                f"{', '.join(given) or 'none'})"
            )
        return self


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
