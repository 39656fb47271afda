"""API keys: a public prefix to find a key, the keyed hash to check it; never the key.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")
TimeType: sa.Double[float] = sa.Double(asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("scheme", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("scopes", JsonType, nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("created_at", TimeType, nullable=False),
        sa.Column("expires_at", TimeType, nullable=True),
        sa.Column("revoked_at", TimeType, nullable=True),
        sa.Column("rate_limit", sa.String(64), nullable=True),
        sa.Column("max_concurrent_jobs", sa.Integer, nullable=True),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant", "created_at"])


def downgrade() -> None:
    op.drop_table("api_keys")
