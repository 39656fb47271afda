"""The transactional outbox of domain events (apps' facts, sent to the event stream).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")
SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TimeType: sa.Double[float] = sa.Double(asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "domain_outbox",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("payload", JsonType, nullable=False),
        sa.Column("occurred_at", TimeType, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TimeType, nullable=False),
        sa.Column("sent_at", TimeType, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_domain_outbox_unsent", "domain_outbox", ["sent_at", "next_attempt_at", "seq"]
    )
    # The highest fencing token a dispatcher presented: marks under a lower one are refused.
    op.create_table(
        "domain_outbox_fence",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("token", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("domain_outbox_fence")
    op.drop_table("domain_outbox")
