"""Source S4's log analysis: mined templates per service, incidents, each tenant's Drain
state, and the stream positions of the last stored batch.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")
TimeType: sa.Double[float] = sa.Double(asdecimal=False)
# Bytes: base64 text on MySQL/MariaDB (adapters/sql/column_types.py converts).
BlobType = sa.LargeBinary().with_variant(MEDIUMTEXT(), "mysql", "mariadb")
LongText = sa.Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")
NAME = 253


def upgrade() -> None:
    op.create_table(
        "log_templates",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("template_id", sa.Integer, primary_key=True),
        sa.Column("service", sa.String(NAME), primary_key=True),
        sa.Column("text", LongText, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_seen", TimeType, nullable=False),
        sa.Column("last_seen", TimeType, nullable=False),
    )
    op.create_index("ix_log_templates_count", "log_templates", ["tenant", "count"])

    op.create_table(
        "log_incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("service", sa.String(NAME), nullable=False),
        sa.Column("template_id", sa.Integer, nullable=False),
        sa.Column("template", LongText, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("first_seen", TimeType, nullable=False),
        sa.Column("last_seen", TimeType, nullable=False),
        sa.Column("samples", JsonType, nullable=False),
        sa.Column("parameters", JsonType, nullable=False),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.Column("resolved_at", TimeType, nullable=True),
        sa.Column("analysis", JsonType, nullable=True),
    )
    op.create_index("ix_log_incidents_newest", "log_incidents", ["tenant", "first_seen"])
    op.create_index(
        "ix_log_incidents_group",
        "log_incidents",
        ["tenant", "service", "template_id", "first_seen"],
    )

    op.create_table(
        "log_miner_states",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("state", BlobType, nullable=False),
        sa.Column("updated_at", TimeType, nullable=False),
    )

    op.create_table(
        "log_consumer_positions",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(255), primary_key=True),
        sa.Column("partition_no", sa.Integer, primary_key=True),
        sa.Column("positions", JsonType, nullable=False),
        sa.Column("updated_at", TimeType, nullable=False),
    )


def downgrade() -> None:
    for table in ("log_consumer_positions", "log_miner_states", "log_incidents", "log_templates"):
        op.drop_table(table)
