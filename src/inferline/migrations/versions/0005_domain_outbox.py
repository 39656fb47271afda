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
    # the dispatcher's read: unsent events in seq order (an ordered scan that stops at
    # the batch size; events still waiting for a retry are skipped on the way)
    op.create_index("ix_domain_outbox_unsent", "domain_outbox", ["sent_at", "seq"])
    # The highest fencing token a dispatcher presented: marks under a lower one are refused.
    # Which consumer applied which event, in the consumer's own transaction (exactly once).
    op.create_table(
        "domain_events_consumed",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(32), primary_key=True),
        sa.Column("consumed_at", TimeType, nullable=False),
    )
    op.create_index("ix_domain_events_consumed_at", "domain_events_consumed", ["consumed_at"])
    # Lease locks in the database: the dispatcher's lock where there is no Redis.
    op.create_table(
        "lease_locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("lease_until", TimeType, nullable=False),
    )
    op.create_table(
        "domain_outbox_fence",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("token", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("domain_outbox_fence")
    op.drop_table("lease_locks")
    op.drop_table("domain_events_consumed")
    op.drop_table("domain_outbox")
