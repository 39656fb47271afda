"""The log archive's and the batch reports' tables (migration 0010). Times are UNIX
seconds in double precision; every row carries its tenant."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table

from inferline.adapters.sql.column_types import JsonType, LongText, SeqType, TimeType

metadata = MetaData()
NAME = 253  # a DNS name: the longest service or Kubernetes object name LogRecord allows
NO_TEMPLATE = ""  # the counts' key column cannot be NULL on MySQL: "" stands for none

log_records = Table(
    "log_records",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("timestamp", TimeType, nullable=False),
    Column("received_at", TimeType, nullable=False),
    Column("service", String(NAME), nullable=False),
    Column("level", String(8), nullable=False),
    Column("message", LongText, nullable=False),
    Column("template_id", String(64), nullable=True),
    Column("trace_id", String(128), nullable=True),
    Column("span_id", String(128), nullable=True),
    Column("k8s_namespace", String(NAME), nullable=True),
    Column("k8s_pod", String(NAME), nullable=True),
    Column("k8s_container", String(NAME), nullable=True),
    Column("k8s_node", String(NAME), nullable=True),
    Column("tag", String(NAME), nullable=True),
    Column("attributes", JsonType, nullable=True),
    Column("record_hash", String(32), nullable=False),
    # seq last: the keyset pages' order (InnoDB and SQLite append it anyway)
    Index("ix_log_records_time", "tenant", "timestamp", "seq"),
    Index("ix_log_records_received", "tenant", "received_at", "seq"),
)

log_quality_reports = Table(
    "log_quality_reports",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD (UTC)
    Column("passed", Boolean, nullable=False),
    Column("report", JsonType, nullable=False),
    Column("created_at", TimeType, nullable=False),
)

log_hourly_counts = Table(
    "log_hourly_counts",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("hour", TimeType, primary_key=True),
    Column("service", String(NAME), primary_key=True),
    Column("level", String(8), primary_key=True),
    Column("template_id", String(64), primary_key=True),
    Column("count", Integer, nullable=False),
)

log_batch_progress = Table(
    "log_batch_progress",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("period", TimeType, nullable=False),
    Column("updated_at", TimeType, nullable=False),
)
