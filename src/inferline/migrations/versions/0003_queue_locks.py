"""One lock row per model, for exact queue admission on PostgreSQL and MySQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("queue_locks", sa.Column("model", sa.String(128), primary_key=True))


def downgrade() -> None:
    op.drop_table("queue_locks")
