"""Source S4's log ingest: dead letters (records that failed validation) and the
embedded stream `logs.raw` for deployments without Kafka or Redis Streams.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TimeType: sa.Double[float] = sa.Double(asdecimal=False)
# Bytes: base64 text on MySQL/MariaDB (adapters/sql/column_types.py converts).
BlobType = sa.LargeBinary().with_variant(MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "logs_dead_letters",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("tag", sa.String(253), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("reason_class", sa.String(64), nullable=False),
        sa.Column("raw", BlobType, nullable=False),
        sa.Column("raw_size", sa.Integer, nullable=False),
        sa.Column("received_at", TimeType, nullable=False),
    )
    op.create_index("ix_logs_dead_letters_tenant", "logs_dead_letters", ["tenant", "seq"])

    op.create_table(
        "logs_stream",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(253), nullable=True),
        sa.Column("value", BlobType, nullable=False),
        sa.Column("created_at", TimeType, nullable=False),
    )
    op.create_index("ix_logs_stream_topic", "logs_stream", ["topic", "seq"])


def downgrade() -> None:
    op.drop_index("ix_logs_stream_topic", table_name="logs_stream")
    op.drop_table("logs_stream")
    op.drop_index("ix_logs_dead_letters_tenant", table_name="logs_dead_letters")
    op.drop_table("logs_dead_letters")
