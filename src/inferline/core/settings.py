"""Settings from the environment (prefix INFERLINE_). Defaults are the embedded mode."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SQL_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg", "mysql+aiomysql")


class BatchingOverride(BaseModel):
    """Per-model batching settings that replace the model's own hints."""

    max_batch_size: int | None = Field(default=None, ge=1, le=4096)
    max_wait_ms: float | None = Field(default=None, ge=0, le=10_000)


class Settings(BaseSettings):
    """Every knob of Inferline. Each can be set as INFERLINE_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="INFERLINE_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./inferline.db"
    """SQLAlchemy URL of the job store (jobs, results, outbox): SQLite, PostgreSQL or MySQL."""

    queue_url: str = "sql://"
    """Where workers find jobs: `sql://` claims rows from the job store itself."""

    events_url: str = "memory://"
    """Where job events are published: `memory://` is in-process pub/sub."""

    cache_url: str = "memory://"
    """Result and embedding cache: `memory://` is an in-process LRU with TTL."""

    models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated names of the models to serve; empty means every registered model."""

    batching: dict[str, BatchingOverride] = Field(default_factory=dict)
    """Per-model batching overrides, as JSON: {"moving-average": {"max_batch_size": 64}}."""

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Largest accepted request body; larger requests get 413."""

    max_pending_sync: int = Field(default=1024, ge=1)
    """Synchronous requests that may wait in one model's batcher before 429."""

    max_queued_jobs: int = Field(default=1_000_000, ge=1)
    """Queued jobs per model above which new submissions get 429."""

    default_max_attempts: int = Field(default=3, ge=1, le=100)
    """Attempts of a job when the client does not say."""

    retry_base_seconds: float = Field(default=1.0, gt=0)
    """First retry delay; doubles each attempt, with jitter."""

    retry_max_seconds: float = Field(default=300.0, gt=0)
    """Longest retry delay."""

    lease_seconds: float = Field(default=10.0, ge=1)
    """How long a claimed job stays with its worker without a heartbeat."""

    inflight_per_model: int | None = Field(default=None, ge=1)
    """Jobs a worker holds per model at once; default twice the batch size."""

    poll_interval_seconds: float = Field(default=0.1, gt=0, le=10)
    """How often an idle worker looks for jobs submitted by another process."""

    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    """On SIGTERM, how long in-flight batches may take before the rest is released."""

    event_retention_seconds: float = Field(default=7 * 24 * 3600, ge=60)
    """How long job events (the timeline) are kept in the store."""

    job_retention_seconds: float | None = Field(default=None, ge=60)
    """Delete finished jobs older than this; unset keeps them for ever."""

    log_level: str = "INFO"
    """Python log level name."""

    log_format: Literal["auto", "json", "console"] = "auto"
    """`json` lines, `console` text, or `auto` (console on a terminal, else JSON)."""

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in SQL_SCHEMES:
            raise ValueError(f"unsupported database URL scheme {scheme!r}; use one of {SQL_SCHEMES}")
        return value

    @field_validator("queue_url")
    @classmethod
    def _known_queue(cls, value: str) -> str:
        return _check_scheme(value, ("sql", "redis", "rediss"), "queue")

    @field_validator("events_url", "cache_url")
    @classmethod
    def _known_bus(cls, value: str) -> str:
        return _check_scheme(value, ("memory", "redis", "rediss"), "events/cache")


def _check_scheme(value: str, allowed: tuple[str, ...], what: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in allowed:
        raise ValueError(f"unsupported {what} URL scheme {scheme!r}; use one of {allowed}")
    return value
