"""The log ingest's settings, from the environment (prefix INFERLINE_LOGS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from inferline.core.settings import TOPIC_PATTERN

MIB = 1024 * 1024


class LogsSettings(BaseSettings):
    """Every knob of the log ingest. Each can be set as INFERLINE_LOGS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="INFERLINE_LOGS_", extra="ignore")

    forward_port: int | None = Field(default=None, ge=0, le=65535)
    """The TCP port of the Fluent Forward protocol server (Fluent Bit's `forward` output).
    Unset: no server; 0: a free port, logged when bound."""

    forward_host: str = Field(default="0.0.0.0", min_length=1)
    """The address the Forward server listens on."""

    forward_max_frame_bytes: int = Field(default=16 * MIB, ge=64 * 1024, le=256 * MIB)
    """The largest Forward frame (and a gzip frame's entries, decompressed) a connection
    may send; past it the connection is closed, so no client can exhaust memory."""

    tenant: str = Field(default="default", min_length=1, max_length=64)
    """The tenant of the records that come in over the Forward protocol (which carries no
    credentials); HTTP records belong to the caller's tenant."""

    topic: str = Field(default="logs.raw", max_length=200, pattern=TOPIC_PATTERN)
    """The stream valid records go to: a Kafka topic or Redis stream when
    INFERLINE_STREAMS_URL (or a Kafka/Redis events URL) names a broker, else the
    database's embedded stream table. The broker's topic prefix applies."""

    max_body_bytes: int = Field(default=8 * MIB, ge=1024, le=256 * MIB)
    """The largest `POST /api/v1/logs` body (decompressed); larger ones get 413."""

    http_date_key: str = Field(default="date", min_length=1, max_length=64)
    """The key where Fluent Bit's `http` output puts the record's time (`json_date_key`);
    used as the event time when the record has no time of its own, then removed."""

    dead_letter_max_bytes: int = Field(default=64 * 1024, ge=256, le=16 * MIB)
    """The most bytes of an invalid record's original encoding a dead letter keeps."""

    send_batch: int = Field(default=1000, ge=1, le=100_000)
    """Records per `send` to the stream."""
