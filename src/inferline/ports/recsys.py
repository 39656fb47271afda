"""The recommendation app's store (source S3): catalog, behaviour, preferences, conversations.

Small Protocols, one per concern, so that each use case names what it needs; the SQL
adapter (`adapters/sql/recsys/`) implements all of them on SQLite, PostgreSQL and
MySQL/MariaDB, and `RecsysStore` is their union for the composition root.

Every method takes the tenant: every row carries it, and another tenant's id is not
found. Times are UNIX seconds; embeddings are float32 vectors (384 values for MiniLM).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from inferline.domain.domain_events import DomainEvent

EventType = Literal["view", "like", "cart", "order", "message"]
Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog item. `text_hash` fingerprints the embedded text (name, description, tags)."""

    id: str
    name: str
    description: str
    category: str
    price: float
    tags: tuple[str, ...]
    text_hash: str
    embedding: np.ndarray | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class BehaviourEvent:
    """One thing a user did; `product_id` is optional (a message event has none)."""

    user_id: str
    type: EventType
    product_id: str | None
    at: float
    weight: float = 1.0
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    user_id: str
    status: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    conversation_id: str
    user_id: str
    role: Role
    content: str
    created_at: float
    seq: int = 0
    embedding: np.ndarray | None = field(default=None, compare=False)


Preferences = dict[str, Any]
"""A user's preferences as JSON: categories and tags (weights), price band, recent items."""

Learner = Callable[
    [str, Preferences | None, Sequence[BehaviourEvent], dict[str, Product]],
    tuple[Preferences, list[DomainEvent]],
]
"""(user, stored preferences or None, the user's new events, their products) → the new
preferences and the domain events to write with them. Pure: the store calls it inside the
transaction, with the user's preferences row locked."""


@dataclass(frozen=True, slots=True)
class Popularity:
    product_id: str
    score: float


class CatalogStore(Protocol):
    async def text_hashes(self, tenant: str, ids: Sequence[str]) -> dict[str, str]:
        """The stored text fingerprint of each existing product among `ids`."""
        ...

    async def upsert_products(self, tenant: str, products: Sequence[Product]) -> None:
        """Insert or replace each product; a product given without an embedding keeps its
        stored one (its text did not change). One transaction."""

    async def products(
        self, tenant: str, ids: Sequence[str], *, embeddings: bool = True
    ) -> dict[str, Product]:
        """The existing products among `ids` (with their embeddings unless told not)."""
        ...

    async def embedded_products(
        self, tenant: str | None = None, *, after: tuple[str, str] = ("", ""), limit: int = 1000
    ) -> list[tuple[str, Product]]:
        """(tenant, product) with an embedding, ordered by (tenant, id) after `after`: the
        vector index is rebuilt from these."""
        ...

    async def catalog_terms(self, tenant: str) -> tuple[set[str], set[str]]:
        """Every category and every tag of the tenant's catalog (lower case)."""
        ...


class BehaviourStore(Protocol):
    async def record_events(
        self, tenant: str, events: Sequence[BehaviourEvent], learn: Learner
    ) -> dict[str, Preferences]:
        """Store the events, update each user's preferences with `learn`, bump the item
        popularity and the item-item co-occurrence, and write the domain events: one
        transaction. Returns each user's new preferences. NotFound for an unknown product."""
        ...

    async def preferences(self, tenant: str, user_id: str) -> Preferences | None: ...

    async def cooccurring(
        self, tenant: str, product_ids: Sequence[str], limit: int
    ) -> dict[str, dict[str, float]]:
        """For each of `product_ids`, its most co-occurring products and their weights."""
        ...

    async def popular(
        self, tenant: str, category: str | None, limit: int, *, since: float | None = None
    ) -> list[Popularity]:
        """The most interacted-with products (weighted by event type), all time, or only
        events at or after `since` (trending)."""
        ...


class ConversationStore(Protocol):
    async def create_conversation(self, tenant: str, conversation: Conversation) -> None: ...

    async def conversation(self, tenant: str, conversation_id: str) -> Conversation:
        """NotFound when the tenant has no such conversation."""
        ...

    async def add_message(
        self,
        tenant: str,
        message: Message,
        *,
        event: BehaviourEvent | None = None,
        learn: Learner | None = None,
        outbox: Sequence[DomainEvent] = (),
    ) -> Preferences | None:
        """Store the message (and its embedding) and the domain events; with `event` and
        `learn`, record the behaviour and update the preferences in the same transaction
        (returns them)."""
        ...

    async def messages(
        self, tenant: str, conversation_id: str, limit: int, *, before_seq: int | None = None
    ) -> list[Message]:
        """The conversation's messages in order (the last `limit` before `before_seq`)."""
        ...

    async def recent_user_messages(self, tenant: str, user_id: str, limit: int) -> list[Message]:
        """The user's own latest messages with embeddings, newest first."""
        ...

    async def messages_by_id(self, tenant: str, ids: Sequence[str]) -> dict[str, Message]: ...

    async def embedded_messages(
        self, *, after: tuple[str, str] = ("", ""), limit: int = 1000
    ) -> list[tuple[str, Message]]:
        """(tenant, message) with an embedding, ordered by (tenant, id) after `after`."""
        ...


class RecsysStore(CatalogStore, BehaviourStore, ConversationStore, Protocol):
    """Every part, for the composition root, with the connection's lifecycle."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...
