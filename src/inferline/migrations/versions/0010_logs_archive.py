"""Source S4's log archive and its batch jobs' reports: archived log lines (retention
pruned), quality reports per tenant and day, counts per tenant and hour, and how far
each batch job has got.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")
SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TimeType: sa.Double[float] = sa.Double(asdecimal=False)
LongText = sa.Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")
NAME = 253


def upgrade() -> None:
    op.create_table(
        "log_records",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("timestamp", TimeType, nullable=False),
        sa.Column("received_at", TimeType, nullable=False),
        sa.Column("service", sa.String(NAME), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("message", LongText, nullable=False),
        sa.Column("template_id", sa.String(64), nullable=True),
        sa.Column("trace_id", sa.String(128), nullable=True),
        sa.Column("span_id", sa.String(128), nullable=True),
        sa.Column("k8s_namespace", sa.String(NAME), nullable=True),
        sa.Column("k8s_pod", sa.String(NAME), nullable=True),
        sa.Column("k8s_container", sa.String(NAME), nullable=True),
        sa.Column("k8s_node", sa.String(NAME), nullable=True),
        sa.Column("tag", sa.String(NAME), nullable=True),
        sa.Column("attributes", JsonType, nullable=True),
        sa.Column("record_hash", sa.String(32), nullable=False),
    )
    op.create_index("ix_log_records_time", "log_records", ["tenant", "timestamp", "seq"])
    op.create_index("ix_log_records_received", "log_records", ["tenant", "received_at", "seq"])

    op.create_table(
        "log_quality_reports",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("report", JsonType, nullable=False),
        sa.Column("created_at", TimeType, nullable=False),
    )

    op.create_table(
        "log_hourly_counts",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("hour", TimeType, primary_key=True),
        sa.Column("service", sa.String(NAME), primary_key=True),
        sa.Column("level", sa.String(8), primary_key=True),
        sa.Column("template_id", sa.String(64), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )

    op.create_table(
        "log_batch_progress",
        sa.Column("job", sa.String(64), primary_key=True),
        sa.Column("period", TimeType, nullable=False),
        sa.Column("updated_at", TimeType, nullable=False),
    )


def downgrade() -> None:
    for table in ("log_batch_progress", "log_hourly_counts", "log_quality_reports", "log_records"):
        op.drop_table(table)
