"""The embedded stream `logs_stream` holds a chunk of records per row: `records`, how many
records a row holds. Rows written before are single records (1, the default).

A downgrade drops the column: drain the stream first, as the code before this revision
reads a chunk's row as one record.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "logs_stream",
        sa.Column("records", sa.Integer, nullable=False, server_default=sa.text("1")),
    )


def downgrade() -> None:
    op.drop_column("logs_stream", "records")
