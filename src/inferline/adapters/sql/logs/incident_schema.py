"""The log analysis's template and incident tables (migration 0009). Times are UNIX
seconds, as in every Inferline table."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text

from inferline.adapters.sql.column_types import BlobType, JsonType, LongText, TimeType

metadata = MetaData()
NAME = 253  # a service name: a DNS name, as LogRecord allows

# Per tenant, template and service: the template's text, how often and when it was seen.
log_templates = Table(
    "log_templates",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("template_id", Integer, primary_key=True),
    Column("service", String(NAME), primary_key=True),
    Column("text", LongText, nullable=False),
    Column("count", Integer, nullable=False),
    Column("first_seen", TimeType, nullable=False),
    Column("last_seen", TimeType, nullable=False),
    Index("ix_log_templates_count", "tenant", "count"),
)

log_incidents = Table(
    "log_incidents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("service", String(NAME), nullable=False),
    Column("template_id", Integer, nullable=False),
    Column("template", LongText, nullable=False),
    Column("level", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("count", Integer, nullable=False),
    Column("first_seen", TimeType, nullable=False),
    Column("last_seen", TimeType, nullable=False),
    Column("samples", JsonType, nullable=False),
    Column("parameters", JsonType, nullable=False),
    Column("resolution", Text, nullable=True),
    Column("resolved_at", TimeType, nullable=True),
    Column("analysis", JsonType, nullable=True),
    Index("ix_log_incidents_newest", "tenant", "first_seen"),
    Index("ix_log_incidents_group", "tenant", "service", "template_id", "first_seen"),
)

# Each tenant's Drain state (drain3's compressed snapshot): template ids survive restarts.
log_miner_states = Table(
    "log_miner_states",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("state", BlobType, nullable=False),
    Column("updated_at", TimeType, nullable=False),
)

# The positions of the last batch stored per consumer and partition of `logs.raw`.
log_consumer_positions = Table(
    "log_consumer_positions",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition_no", Integer, primary_key=True),
    Column("positions", JsonType, nullable=False),
    Column("updated_at", TimeType, nullable=False),
)
