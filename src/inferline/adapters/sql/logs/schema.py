"""The log ingest's tables (migrations 0008 and 0011). Times are UNIX seconds; bytes are a BLOB
(base64 text on MySQL/MariaDB)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, text

from inferline.adapters.sql.column_types import BlobType, SeqType, TimeType

metadata = MetaData()

# Records that failed validation, with the reason and their original bytes.
logs_dead_letters = Table(
    "logs_dead_letters",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("tag", String(253), nullable=True),
    Column("reason", Text, nullable=False),
    Column("reason_class", String(64), nullable=False),
    Column("raw", BlobType(), nullable=False),
    Column("raw_size", Integer, nullable=False),
    Column("received_at", TimeType, nullable=False),
    Index("ix_logs_dead_letters_tenant", "tenant", "seq"),
)

# The embedded stream (no Kafka or Redis Streams): a row holds `records` records (one, or
# a chunk of them: see stream.py) until they are committed.
logs_stream = Table(
    "logs_stream",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(253), nullable=True),
    Column("value", BlobType(), nullable=False),
    Column("created_at", TimeType, nullable=False),
    Column("records", Integer, nullable=False, server_default=text("1")),
    Index("ix_logs_stream_topic", "topic", "seq"),
)
