"""Source S3's recommendation app: products, behaviour events, user preferences, item
co-occurrence and popularity, conversations and their messages.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import MEDIUMTEXT
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")
SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TimeType: sa.Double[float] = sa.Double(asdecimal=False)
# Bytes: base64 text on MySQL/MariaDB (adapters/sql/column_types.py converts).
BlobType = sa.LargeBinary().with_variant(MEDIUMTEXT(), "mysql", "mariadb")
LongText = sa.Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")
ID = 128


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("price", TimeType, nullable=False),
        sa.Column("tags", JsonType, nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("embedding", BlobType, nullable=True),
        sa.Column("created_at", TimeType, nullable=False),
        sa.Column("updated_at", TimeType, nullable=False),
    )
    op.create_index("ix_products_category", "products", ["tenant", "category"])

    op.create_table(
        "behaviour_events",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(ID), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("product_id", sa.String(ID), nullable=True),
        sa.Column("category", sa.String(100), nullable=True),
        sa.Column("weight", TimeType, nullable=False),
        sa.Column("at", TimeType, nullable=False),
    )
    op.create_index("ix_behaviour_events_user", "behaviour_events", ["tenant", "user_id", "at"])
    op.create_index("ix_behaviour_events_at", "behaviour_events", ["tenant", "at"])

    op.create_table(
        "user_preferences",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(ID), primary_key=True),
        sa.Column("preferences", JsonType, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_updated", TimeType, nullable=False),
    )

    op.create_table(
        "item_cooccurrence",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("item_a", sa.String(ID), primary_key=True),
        sa.Column("item_b", sa.String(ID), primary_key=True),
        sa.Column("weight", TimeType, nullable=False),
    )

    op.create_table(
        "item_popularity",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("product_id", sa.String(ID), primary_key=True),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("score", TimeType, nullable=False),
        sa.Column("orders", sa.Integer, nullable=False),
    )
    op.create_index("ix_item_popularity_rank", "item_popularity", ["tenant", "category", "score"])

    op.create_table(
        "conversations",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(ID), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TimeType, nullable=False),
    )
    op.create_index("ix_conversations_user", "conversations", ["tenant", "user_id"])

    op.create_table(
        "conversation_messages",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(ID), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("content", LongText, nullable=False),
        sa.Column("embedding", BlobType, nullable=True),
        sa.Column("created_at", TimeType, nullable=False),
    )
    op.create_index(
        "ix_conversation_messages_conv",
        "conversation_messages",
        ["tenant", "conversation_id", "seq"],
    )
    op.create_index(
        "ix_conversation_messages_user",
        "conversation_messages",
        ["tenant", "user_id", "role", "seq"],
    )


def downgrade() -> None:
    for table in (
        "conversation_messages",
        "conversations",
        "item_popularity",
        "item_cooccurrence",
        "user_preferences",
        "behaviour_events",
        "products",
    ):
        op.drop_table(table)
