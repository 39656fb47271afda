"""Source S0's news stream: feeds, articles, analyser results, rejects, the embedded stream.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")
SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TimeType: sa.Double[float] = sa.Double(asdecimal=False)
# Bytes: base64 text on MySQL/MariaDB, whose async driver cannot bind bytes parameters
# (apps/news/schema.py's BlobType converts).
BlobType = sa.LargeBinary().with_variant(MEDIUMTEXT(), "mysql", "mariadb")
LongText = sa.Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "news_feeds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("url_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("interval_seconds", TimeType, nullable=False),
        sa.Column("created_at", TimeType, nullable=False),
        sa.Column("next_poll_at", TimeType, nullable=False),
        sa.Column("last_polled_at", TimeType, nullable=True),
        sa.Column("last_success_at", TimeType, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("articles_published", sa.Integer, nullable=False),
        sa.Column("entries_rejected", sa.Integer, nullable=False),
    )
    op.create_index("ix_news_feeds_due", "news_feeds", ["next_poll_at"])

    op.create_table(
        "news_articles",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("guid_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("url_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("guid", sa.Text, nullable=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("content", LongText, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("author", sa.String(200), nullable=True),
        sa.Column("published_at", TimeType, nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TimeType, nullable=False),
        sa.Column("analysed_at", TimeType, nullable=True),
        sa.Column("sentiment", sa.String(16), nullable=True),
        sa.Column("sentiment_score", TimeType, nullable=True),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("keywords", JsonType, nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("embedding", BlobType, nullable=True),
    )
    op.create_index("ix_news_articles_created", "news_articles", ["created_at", "id"])
    op.create_index("ix_news_articles_analysed", "news_articles", ["analysed_at"])
    op.create_index("ix_news_articles_sentiment", "news_articles", ["sentiment", "created_at"])
    op.create_index("ix_news_articles_topic", "news_articles", ["topic", "created_at"])
    op.create_index("ix_news_articles_source", "news_articles", ["source", "created_at"])

    op.create_table(
        "news_analyses",
        sa.Column("article_id", sa.String(36), primary_key=True),
        sa.Column("analyser", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("output", JsonType, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("latency_ms", TimeType, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("analysed_at", TimeType, nullable=False),
    )
    op.create_index("ix_news_analyses_stats", "news_analyses", ["analyser", "analysed_at"])

    op.create_table(
        "news_rejects",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("feed_url", sa.Text, nullable=True),
        sa.Column("entry", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", TimeType, nullable=False),
    )
    op.create_index("ix_news_rejects_at", "news_rejects", ["at"])

    op.create_table(
        "news_queue",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(255), nullable=True),
        sa.Column("value", BlobType, nullable=False),
        sa.Column("created_at", TimeType, nullable=False),
    )
    op.create_index("ix_news_queue_topic", "news_queue", ["topic", "seq"])


def downgrade() -> None:
    for table in ("news_queue", "news_rejects", "news_analyses", "news_articles", "news_feeds"):
        op.drop_table(table)
