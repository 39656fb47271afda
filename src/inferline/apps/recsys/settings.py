"""The recommendation app's settings, from the environment (prefix INFERLINE_RECSYS_)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecsysSettings(BaseSettings):
    """Every knob of source S3's recommendations. Each can be set as INFERLINE_RECSYS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="INFERLINE_RECSYS_", extra="ignore")

    cache_prefix: str = Field(default="", max_length=100, pattern=r"^\S*$")
    """Put before every cache key (`rec:user:…`); empty: `<INFERLINE_REDIS_PREFIX>:recsys:`.
    Tests and deployments sharing one Redis give each its own."""

    vector_index: Literal["embedded", "pgvector", "milvus"] = "embedded"
    """Where product and message embeddings are searched: the embedded NumPy index (a
    folder beside the database), pgvector tables (`vector(384)`, HNSW) in the
    PostgreSQL database of INFERLINE_DATABASE_URL, whose server has the extension, or
    Milvus collections in the Milvus of INFERLINE_VECTOR_URL (`milvus://…`)."""

    content_weight: float = Field(default=0.3, ge=0, le=1)
    collaborative_weight: float = Field(default=0.3, ge=0, le=1)
    llm_weight: float = Field(default=0.4, ge=0, le=1)
    """The hybrid score's weights (source S3: 30 % / 30 % / 40 %); renormalised over the
    components available for a request."""

    llm_candidates: int = Field(default=5, ge=1, le=50)
    """How many of the best candidates the LLM scores against the conversation."""

    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    """Longest wait for the LLM's scores or reply; past it the LLM part is unavailable
    (not retried: a served model keeps generating what timed out)."""

    reply_max_tokens: int = Field(default=120, ge=8, le=1024)
    """The longest assistant reply, in tokens."""

    recommendations_ttl_seconds: float = Field(default=300.0, ge=0)
    popular_ttl_seconds: float = Field(default=60.0, ge=0)
    trending_ttl_seconds: float = Field(default=300.0, ge=0)
    similar_ttl_seconds: float = Field(default=3600.0, ge=0)
    preferences_ttl_seconds: float = Field(default=3600.0, ge=0)

    trending_window_seconds: float = Field(default=24 * 3600.0, gt=0)
    """Trending counts the behaviour of this last window (rebuilt when its cache expires)."""

    max_products_per_request: int = Field(default=1000, ge=1, le=10000)
    max_events_per_request: int = Field(default=1000, ge=1, le=10000)
    embed_batch: int = Field(default=64, ge=1, le=512)
    """Product texts embedded per call to the embedding service."""

    @model_validator(mode="after")
    def _some_weight(self) -> RecsysSettings:
        if self.content_weight + self.collaborative_weight + self.llm_weight <= 0:
            raise ValueError("at least one of the hybrid score's weights must be positive")
        return self
