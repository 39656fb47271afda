"""Source S3's request and response bodies: `/embed`, `/batch-embed`, `/similarity`, `/healthz`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from inferline.api.embedding_schemas import MAX_VECTOR_VALUES
from inferline.api.schemas import Strict, exactly_one_of
from inferline.ports.embedding import MAX_TEXT_CHARS

MAX_BATCH_TEXTS = 100


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
