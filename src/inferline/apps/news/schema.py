"""The news tables (migration 0004). Times are UNIX seconds, as in every Inferline table."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.mysql import MEDIUMTEXT
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

metadata = MetaData()
MYSQL = ("mysql", "mariadb")

JsonType = JSON().with_variant(JSONB(), "postgresql")
SeqType = BigInteger().with_variant(Integer(), "sqlite")
TimeType: Double[float] = Double(asdecimal=False)


class BlobType(TypeDecorator[bytes]):
    """Bytes: a BLOB on SQLite and PostgreSQL; base64 in a MEDIUMTEXT on MySQL/MariaDB,
    where the async driver (aiomysql) fails to bind a bytes parameter."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in MYSQL:
            return dialect.type_descriptor(MEDIUMTEXT())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is not None and dialect.name in MYSQL:
            return base64.b64encode(value).decode("ascii")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is not None and dialect.name in MYSQL:
            return base64.b64decode(value)
        return None if value is None else bytes(value)


# A MySQL TEXT holds 64 KiB: 20,000 characters of 4-byte UTF-8 need a MEDIUMTEXT.
LongText = Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")

# Feeds polled by the API process: their schedule, last outcome and backoff.
news_feeds = Table(
    "news_feeds",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", Text, nullable=False),
    Column("url_hash", String(64), nullable=False, unique=True),
    Column("interval_seconds", TimeType, nullable=False),
    Column("created_at", TimeType, nullable=False),
    Column("next_poll_at", TimeType, nullable=False),
    Column("last_polled_at", TimeType, nullable=True),
    Column("last_success_at", TimeType, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("failures", Integer, nullable=False),
    Column("articles_published", Integer, nullable=False),
    Column("entries_rejected", Integer, nullable=False),
    Index("ix_news_feeds_due", "next_poll_at"),
)

# One row per article (id derived from its guid, else its URL); the analysers' figures
# that lists filter on are columns, each analyser's whole result is in news_analyses.
news_articles = Table(
    "news_articles",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("guid_hash", String(64), nullable=True, unique=True),
    Column("url_hash", String(64), nullable=False, unique=True),
    Column("guid", Text, nullable=True),
    Column("url", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("content", LongText, nullable=False),
    Column("source", String(200), nullable=False),
    Column("author", String(200), nullable=True),
    Column("published_at", TimeType, nullable=True),
    Column("origin", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", TimeType, nullable=False),
    Column("analysed_at", TimeType, nullable=True),
    Column("sentiment", String(16), nullable=True),
    Column("sentiment_score", TimeType, nullable=True),
    Column("topic", String(64), nullable=True),
    Column("keywords", JsonType, nullable=True),
    Column("summary", Text, nullable=True),
    Column("embedding", BlobType(), nullable=True),
    Index("ix_news_articles_created", "created_at", "id"),
    Index("ix_news_articles_analysed", "analysed_at"),
    Index("ix_news_articles_sentiment", "sentiment", "created_at"),
    Index("ix_news_articles_topic", "topic", "created_at"),
    Index("ix_news_articles_source", "source", "created_at"),
)

# Each analyser's latest result per article: the key that makes analysers idempotent.
news_analyses = Table(
    "news_analyses",
    metadata,
    Column("article_id", String(36), primary_key=True),
    Column("analyser", String(32), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("output", JsonType, nullable=True),
    Column("error", Text, nullable=True),
    Column("latency_ms", TimeType, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("analysed_at", TimeType, nullable=False),
    Index("ix_news_analyses_stats", "analyser", "analysed_at"),
)

# Feed entries (or stream records) that could not become an article, with the reason.
news_rejects = Table(
    "news_rejects",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("feed_url", Text, nullable=True),
    Column("entry", Text, nullable=True),
    Column("reason", Text, nullable=False),
    Column("at", TimeType, nullable=False),
    Index("ix_news_rejects_at", "at"),
)

# The embedded stream (no Kafka or Redis configured): records by topic, deleted once
# processed, so a process that dies before its commit reads them again.
news_queue = Table(
    "news_queue",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("topic", String(200), nullable=False),
    Column("key", String(255), nullable=True),
    Column("value", BlobType(), nullable=False),
    Column("created_at", TimeType, nullable=False),
    Index("ix_news_queue_topic", "topic", "seq"),
)
