"""The text-embedding model contract: what the embedding use cases rely on.

A text-embedding model is an ordinary `InferenceModel` whose input is
``{"text": str}`` and whose output is an L2-normalised vector with its
dimension, the number of tokens the model read and whether the text was cut
at the model's token limit.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from inferline.ports.model import InferenceModel, ModelInput, ModelOutput

MAX_TEXT_CHARS = 100_000


class TextInput(ModelInput):
    """One text to embed; blank texts are rejected."""

    text: str = Field(max_length=MAX_TEXT_CHARS, description="The text to embed.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be empty or only whitespace")
        return value


class EmbeddingOutput(ModelOutput):
    """An L2-normalised embedding; `truncated` says the text was longer than the token limit."""

    embedding: list[float] = Field(json_schema_extra={"tensor_datatype": "FP32"})
    dim: int
    tokens: int = Field(description="Tokens the model read, special tokens included.")
    truncated: bool = Field(description="True when the text was cut at the model's token limit.")


class TextEmbeddingModel(InferenceModel):
    """Base of text-embedding models: a fixed dimension and a token limit."""

    dimension: ClassVar[int]
    max_tokens: ClassVar[int]
    input_schema = TextInput
    output_schema = EmbeddingOutput

    @property
    def variant(self) -> str:
        """What else than name and version changes the vectors (e.g. the backend)."""
        return "default"
