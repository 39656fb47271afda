"""The log processing's settings (templates and incidents), from the environment
(prefix INFERLINE_LOGS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogsProcessingSettings(BaseSettings):
    """Every knob of the `logs.raw` consumer. Each can be set as INFERLINE_LOGS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="INFERLINE_LOGS_", extra="ignore")

    processing_enabled: bool = True
    """Run the consumer of `logs.raw` in the processes that run stream consumers
    (`inferline serve`); off: the API still serves what is stored."""

    topic: str = Field(default="logs.raw", min_length=1, max_length=200)
    """The stream the ingest publishes valid records to."""

    batch_size: int = Field(default=4000, ge=1, le=10_000)
    batch_timeout_seconds: float = Field(default=0.5, gt=0, le=60)
    """A batch closes at `batch_size` records or this long after its first, whichever
    comes first; it is mined, stored in one transaction, then committed on the stream."""

    incident_window_seconds: float = Field(default=300.0, gt=0, le=7 * 24 * 3600)
    """An error joins its template's open incident when it comes at most this long after
    the incident's last line; after a quieter gap it opens a new incident."""

    incident_samples: int = Field(default=5, ge=1, le=50)
    """Lines kept per incident as samples (the first ones)."""

    incident_parameter_values: int = Field(default=10, ge=1, le=100)
    """Distinct values kept per parameter of an incident's template."""

    mining_process: bool = True
    """Mine templates in a child process of the consumer's, with its own core and GIL (the
    API, the ingest and the stores keep the consumer's); off: in a thread of the
    consumer's process (one core, or a platform without process spawning)."""

    drain_depth: int = Field(default=4, ge=3, le=10)
    drain_similarity: float = Field(default=0.4, gt=0, le=1)
    drain_max_templates: int = Field(default=5000, ge=10, le=1_000_000)
    """Drain's prefix-tree depth, the similarity a line needs to join a template, and the
    templates kept per tenant (the least recently seen are forgotten past it)."""
