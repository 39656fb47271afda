"""Worker heartbeats, for liveness of workers in other processes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")
TimeType: sa.Double[float] = sa.Double(asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("models", JsonType, nullable=False),
        sa.Column("in_flight", sa.Integer, nullable=False),
        sa.Column("started_at", TimeType, nullable=False),
        sa.Column("heartbeat_at", TimeType, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workers")
