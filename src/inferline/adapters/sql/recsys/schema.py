"""The recommendation tables (migration 0007). Every row carries its tenant; times are
UNIX seconds; embeddings are float32 bytes (base64 text on MySQL/MariaDB)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text

from inferline.adapters.sql.column_types import BlobType, JsonType, LongText, SeqType, TimeType

metadata = MetaData()
ID = 128  # ids given by the client (products, users) are at most this long

products = Table(
    "products",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("name", String(500), nullable=False),
    Column("description", Text, nullable=False),
    Column("category", String(100), nullable=False),
    Column("price", TimeType, nullable=False),
    Column("tags", JsonType, nullable=False),
    Column("text_hash", String(64), nullable=False),
    Column("embedding", BlobType(), nullable=True),
    Column("created_at", TimeType, nullable=False),
    Column("updated_at", TimeType, nullable=False),
    Index("ix_products_category", "tenant", "category"),
)

behaviour_events = Table(
    "behaviour_events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("type", String(16), nullable=False),
    Column("product_id", String(ID), nullable=True),
    Column("category", String(100), nullable=True),
    Column("weight", TimeType, nullable=False),
    Column("at", TimeType, nullable=False),
    Index("ix_behaviour_events_user", "tenant", "user_id", "at"),
    Index("ix_behaviour_events_at", "tenant", "at"),
)

user_preferences = Table(
    "user_preferences",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("user_id", String(ID), primary_key=True),
    Column("preferences", JsonType, nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_updated", TimeType, nullable=False),
)

# Implicit feedback, refreshed with every event: how strongly two items go together.
item_cooccurrence = Table(
    "item_cooccurrence",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("item_a", String(ID), primary_key=True),
    Column("item_b", String(ID), primary_key=True),
    Column("weight", TimeType, nullable=False),
)

item_popularity = Table(
    "item_popularity",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("product_id", String(ID), primary_key=True),
    Column("category", String(100), nullable=False),
    Column("score", TimeType, nullable=False),
    Column("orders", Integer, nullable=False),
    Index("ix_item_popularity_rank", "tenant", "category", "score"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(36), primary_key=True),
    Column("user_id", String(ID), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", TimeType, nullable=False),
    Index("ix_conversations_user", "tenant", "user_id"),
)

conversation_messages = Table(
    "conversation_messages",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("id", String(36), nullable=False, unique=True),
    Column("conversation_id", String(36), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("role", String(20), nullable=False),
    Column("content", LongText, nullable=False),
    Column("embedding", BlobType(), nullable=True),
    Column("created_at", TimeType, nullable=False),
    Index("ix_conversation_messages_conv", "tenant", "conversation_id", "seq"),
    Index("ix_conversation_messages_user", "tenant", "user_id", "role", "seq"),
)
