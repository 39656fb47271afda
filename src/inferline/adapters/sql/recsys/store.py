"""`RecsysStore` on SQLAlchemy Core: SQLite (the embedded default), PostgreSQL, MySQL/MariaDB.

Behaviour is recorded in one transaction: the events, the user's preferences (row locked
while `learn` merges them), the item popularity, the item-item co-occurrence with the
user's previous items (the collaborative filter's implicit feedback, refreshed with each
event) and the domain events, through the outbox writer the composition root hands in.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import and_, desc, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from inferline.adapters.sql.recsys.schema import (
    behaviour_events,
    conversation_messages,
    conversations,
    item_cooccurrence,
    item_popularity,
    products,
    user_preferences,
)
from inferline.domain.domain_events import DomainEvent
from inferline.domain.errors import NotFound, Unavailable
from inferline.ports.recsys import (
    BehaviourEvent,
    Conversation,
    Learner,
    Message,
    Popularity,
    Preferences,
    Product,
)

T = TypeVar("T")
CHUNK = 500
PREVIOUS_ITEMS = 20
"""Co-occurrence pairs an event with at most this many of the user's previous items."""

OutboxWriter = Callable[[Any, Sequence[DomainEvent]], Awaitable[None]]
"""Writes domain events on an open connection, inside the caller's transaction (the
outbox's `append_domain_events`, a `ports.domain_events.DomainEventAppender`)."""

Engines = Callable[[str], tuple[Any, Any]]
Migrate = Callable[[str], Awaitable[None]]


def vector_bytes(vector: np.ndarray | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()


def bytes_vector(data: bytes | None) -> np.ndarray | None:
    return None if data is None else np.frombuffer(data, dtype=np.float32).copy()


class SqlRecsysStore:
    """Every recommendation table, on engines the composition root supplies."""

    def __init__(
        self,
        url: str,
        engines: Engines,
        migrate: Migrate,
        outbox: OutboxWriter | None = None,
    ) -> None:
        self.url = url
        self._engines = engines
        self._migrate = migrate
        self._outbox = outbox
        self._writer: Any = None
        self._reader: Any = None
        self.dialect = ""

    async def start(self) -> None:
        await self._migrate(self.url)
        self._writer, self._reader = self._engines(self.url)
        self.dialect = self._writer.dialect.name

    async def close(self) -> None:
        for engine in {id(e): e for e in (self._writer, self._reader) if e}.values():
            await engine.dispose()
        self._writer = self._reader = None

    @property
    def writer(self) -> Any:
        if self._writer is None:
            raise Unavailable("the database is not connected yet", retry_after=1.0)
        return self._writer

    @property
    def reader(self) -> Any:
        if self._reader is None:
            raise Unavailable("the database is not connected yet", retry_after=1.0)
        return self._reader

    # -- dialect helpers -----------------------------------------------------------------
    def _upsert(self, table: Any, keys: Sequence[str], assign: dict[str, Any]) -> Any:
        """INSERT … ON CONFLICT (keys) DO UPDATE: `assign` maps a column to
        "new" (take the inserted value) or "add" (add it to the stored one)."""
        statement: Any
        if self.dialect == "postgresql" or self.dialect == "sqlite":
            statement = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(table)
            values = {
                column: statement.excluded[column]
                if how == "new"
                else table.c[column] + statement.excluded[column]
                for column, how in assign.items()
            }
            return statement.on_conflict_do_update(index_elements=list(keys), set_=values)
        statement = mysql_insert(table)
        values = {
            column: statement.inserted[column]
            if how == "new"
            else table.c[column] + statement.inserted[column]
            for column, how in assign.items()
        }
        return statement.on_duplicate_key_update(**values)

    def _insert_ignore(self, table: Any) -> Any:
        if self.dialect == "postgresql":
            return pg_insert(table).on_conflict_do_nothing()
        if self.dialect == "sqlite":
            return sqlite_insert(table).on_conflict_do_nothing()
        return mysql_insert(table).prefix_with("IGNORE")

    # -- catalog ---------------------------------------------------------------------------
    async def text_hashes(self, tenant: str, ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(ids))
        async with self.reader.connect() as conn:
            for start in range(0, len(unique), CHUNK):
                rows = await conn.execute(
                    select(products.c.id, products.c.text_hash).where(
                        products.c.tenant == tenant,
                        products.c.id.in_(unique[start : start + CHUNK]),
                    )
                )
                found.update({row.id: row.text_hash for row in rows})
        return found

    async def upsert_products(self, tenant: str, items: Sequence[Product]) -> None:
        if not items:
            return
        now = time.time()
        fresh, kept = [], []
        for product in items:
            row = {
                "tenant": tenant,
                "id": product.id,
                "name": product.name,
                "description": product.description,
                "category": product.category,
                "price": product.price,
                "tags": list(product.tags),
                "text_hash": product.text_hash,
                "created_at": now,
                "updated_at": now,
            }
            if product.embedding is not None:
                fresh.append({**row, "embedding": vector_bytes(product.embedding)})
            else:
                kept.append(row)
        changed = dict.fromkeys(("name", "description", "category", "price", "tags"), "new")
        changed.update(text_hash="new", updated_at="new")
        async with self.writer.begin() as conn:
            if fresh:
                statement = self._upsert(
                    products, ("tenant", "id"), {**changed, "embedding": "new"}
                )
                await conn.execute(statement, fresh)
            if kept:
                statement = self._upsert(products, ("tenant", "id"), changed)
                await conn.execute(statement, [{**r, "embedding": None} for r in kept])
            # the category of an item's popularity follows the product
            for product in items:
                await conn.execute(
                    update(item_popularity)
                    .where(
                        item_popularity.c.tenant == tenant,
                        item_popularity.c.product_id == product.id,
                        item_popularity.c.category != product.category,
                    )
                    .values(category=product.category)
                )

    async def products(
        self, tenant: str, ids: Sequence[str], *, embeddings: bool = True
    ) -> dict[str, Product]:
        async with self.reader.connect() as conn:
            return await self._products(conn, tenant, ids, embeddings=embeddings)

    async def _products(
        self, conn: Any, tenant: str, ids: Sequence[str], *, embeddings: bool = False
    ) -> dict[str, Product]:
        found: dict[str, Product] = {}
        unique = list(dict.fromkeys(ids))
        columns = (
            list(products.c) if embeddings else [c for c in products.c if c.name != "embedding"]
        )
        for start in range(0, len(unique), CHUNK):
            rows = await conn.execute(
                select(*columns).where(
                    products.c.tenant == tenant,
                    products.c.id.in_(unique[start : start + CHUNK]),
                )
            )
            for row in rows:
                found[row.id] = _product(row)
        return found

    async def embedded_products(
        self, tenant: str | None = None, *, after: tuple[str, str] = ("", ""), limit: int = 1000
    ) -> list[tuple[str, Product]]:
        query = select(products).where(
            products.c.embedding.is_not(None),
            or_(
                products.c.tenant > after[0],
                and_(products.c.tenant == after[0], products.c.id > after[1]),
            ),
        )
        if tenant is not None:
            query = query.where(products.c.tenant == tenant)
        query = query.order_by(products.c.tenant, products.c.id).limit(limit)
        async with self.reader.connect() as conn:
            return [(row.tenant, _product(row)) for row in await conn.execute(query)]

    async def catalog_terms(self, tenant: str) -> tuple[set[str], set[str]]:
        categories: set[str] = set()
        tags: set[str] = set()
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(products.c.category, products.c.tags).where(products.c.tenant == tenant)
            )
            for row in rows:
                categories.add(row.category.lower())
                tags.update(str(t).lower() for t in row.tags or ())
        return categories, tags

    # -- behaviour ---------------------------------------------------------------------------
    async def record_events(
        self, tenant: str, events: Sequence[BehaviourEvent], learn: Learner
    ) -> dict[str, Preferences]:
        if not events:
            return {}

        async def attempt() -> dict[str, Preferences]:
            async with self.writer.begin() as conn:
                return await self._record(conn, tenant, events, learn)

        return await _retrying_deadlocks(attempt)

    async def _record(
        self, conn: Any, tenant: str, events: Sequence[BehaviourEvent], learn: Learner
    ) -> dict[str, Preferences]:
        ids = [e.product_id for e in events if e.product_id is not None]
        known = await self._products(conn, tenant, ids)
        unknown = sorted(set(ids) - set(known))
        if unknown:
            raise NotFound(
                f"unknown product id(s): {', '.join(unknown[:10])}",
                details={"product_ids": unknown[:100]},
            )
        by_user: dict[str, list[BehaviourEvent]] = defaultdict(list)
        for event in events:
            by_user[event.user_id].append(event)
        now = time.time()
        updated: dict[str, Preferences] = {}
        outbox: list[DomainEvent] = []
        pairs: dict[tuple[str, str], float] = defaultdict(float)
        popularity: dict[str, list[Any]] = {}
        for user_id in sorted(by_user):  # a fixed order: two transactions lock alike
            user_events = by_user[user_id]
            stored, version = await self._lock_preferences(conn, tenant, user_id, now)
            previous = await self._previous_items(conn, tenant, user_id)
            preferences, domain_events = learn(user_id, stored, user_events, known)
            await conn.execute(
                update(user_preferences)
                .where(
                    user_preferences.c.tenant == tenant,
                    user_preferences.c.user_id == user_id,
                )
                .values(preferences=preferences, version=version + 1, last_updated=now)
            )
            updated[user_id] = preferences
            outbox.extend(domain_events)
            seen = list(previous)
            for event in user_events:
                if event.product_id is None:
                    continue
                for other in seen[:PREVIOUS_ITEMS]:
                    if other != event.product_id:
                        pairs[(event.product_id, other)] += event.weight
                        pairs[(other, event.product_id)] += event.weight
                if event.product_id in seen:
                    seen.remove(event.product_id)
                seen.insert(0, event.product_id)
                entry = popularity.setdefault(
                    event.product_id, [known[event.product_id].category, 0.0, 0]
                )
                entry[1] += event.weight
                entry[2] += event.type == "order"
        await conn.execute(
            insert(behaviour_events),
            [
                {
                    "tenant": tenant,
                    "user_id": e.user_id,
                    "type": e.type,
                    "product_id": e.product_id,
                    "category": known[e.product_id].category if e.product_id else None,
                    "weight": e.weight,
                    "at": e.at,
                }
                for e in events
            ],
        )
        if popularity:
            statement = self._upsert(
                item_popularity,
                ("tenant", "product_id"),
                {"category": "new", "score": "add", "orders": "add"},
            )
            await conn.execute(
                statement,
                [
                    {
                        "tenant": tenant,
                        "product_id": pid,
                        "category": category,
                        "score": score,
                        "orders": orders,
                    }
                    for pid, (category, score, orders) in sorted(popularity.items())
                ],
            )
        if pairs:
            statement = self._upsert(
                item_cooccurrence, ("tenant", "item_a", "item_b"), {"weight": "add"}
            )
            await conn.execute(
                statement,
                [
                    {"tenant": tenant, "item_a": a, "item_b": b, "weight": w}
                    for (a, b), w in sorted(pairs.items())
                ],
            )
        if outbox and self._outbox is not None:
            await self._outbox(conn, outbox)
        return updated

    async def _lock_preferences(
        self, conn: Any, tenant: str, user_id: str, now: float
    ) -> tuple[Preferences | None, int]:
        """The user's preferences row, locked; created empty (version 0) if missing.
        Locking first (not inserting first) spares MySQL/MariaDB the shared lock that an
        ignored duplicate insert takes, and its upgrade deadlock."""
        found = await self._select_preferences(conn, tenant, user_id)
        if found is not None:
            return found
        await conn.execute(
            self._insert_ignore(user_preferences),
            [
                {
                    "tenant": tenant,
                    "user_id": user_id,
                    "preferences": {},
                    "version": 0,
                    "last_updated": now,
                }
            ],
        )
        found = await self._select_preferences(conn, tenant, user_id)
        assert found is not None
        return found

    async def _select_preferences(
        self, conn: Any, tenant: str, user_id: str
    ) -> tuple[Preferences | None, int] | None:
        row = (
            await conn.execute(
                select(user_preferences.c.preferences, user_preferences.c.version)
                .where(
                    user_preferences.c.tenant == tenant,
                    user_preferences.c.user_id == user_id,
                )
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        return (row.preferences if row.version else None), int(row.version)

    async def _previous_items(self, conn: Any, tenant: str, user_id: str) -> list[str]:
        rows = await conn.execute(
            select(behaviour_events.c.product_id, func.max(behaviour_events.c.seq).label("last"))
            .where(
                behaviour_events.c.tenant == tenant,
                behaviour_events.c.user_id == user_id,
                behaviour_events.c.product_id.is_not(None),
            )
            .group_by(behaviour_events.c.product_id)
            .order_by(desc("last"))
            .limit(PREVIOUS_ITEMS)
        )
        return [row.product_id for row in rows]

    async def preferences(self, tenant: str, user_id: str) -> Preferences | None:
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(user_preferences.c.preferences, user_preferences.c.version).where(
                        user_preferences.c.tenant == tenant,
                        user_preferences.c.user_id == user_id,
                    )
                )
            ).first()
        if row is None or not row.version:
            return None
        found: Preferences = row.preferences
        return found

    async def cooccurring(
        self, tenant: str, product_ids: Sequence[str], limit: int
    ) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        if not product_ids:
            return found
        table = item_cooccurrence
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(table.c.item_a, table.c.item_b, table.c.weight)
                .where(table.c.tenant == tenant, table.c.item_a.in_(list(product_ids)))
                .order_by(table.c.item_a, table.c.weight.desc())
            )
            for row in rows:
                neighbours = found.setdefault(row.item_a, {})
                if len(neighbours) < limit:
                    neighbours[row.item_b] = float(row.weight)
        return found

    async def popular(
        self, tenant: str, category: str | None, limit: int, *, since: float | None = None
    ) -> list[Popularity]:
        if since is None:
            table = item_popularity
            query = select(table.c.product_id, table.c.score).where(table.c.tenant == tenant)
            if category is not None:
                query = query.where(table.c.category == category)
            query = query.order_by(table.c.score.desc(), table.c.product_id).limit(limit)
        else:
            events = behaviour_events
            score = func.sum(events.c.weight).label("score")
            query = (
                select(events.c.product_id, score)
                .where(
                    events.c.tenant == tenant,
                    events.c.at >= since,
                    events.c.product_id.is_not(None),
                )
                .group_by(events.c.product_id)
                .order_by(desc("score"), events.c.product_id)
                .limit(limit)
            )
            if category is not None:
                query = query.where(events.c.category == category)
        async with self.reader.connect() as conn:
            return [Popularity(r.product_id, float(r.score)) for r in await conn.execute(query)]

    # -- conversations -----------------------------------------------------------------------
    async def create_conversation(self, tenant: str, conversation: Conversation) -> None:
        async with self.writer.begin() as conn:
            await conn.execute(
                insert(conversations).values(
                    tenant=tenant,
                    id=conversation.id,
                    user_id=conversation.user_id,
                    status=conversation.status,
                    created_at=conversation.created_at,
                )
            )

    async def conversation(self, tenant: str, conversation_id: str) -> Conversation:
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(conversations).where(
                        conversations.c.tenant == tenant, conversations.c.id == conversation_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(
                f"conversation {conversation_id} not found",
                details={"conversation_id": conversation_id},
            )
        return Conversation(row.id, row.user_id, row.status, row.created_at)

    async def add_message(
        self,
        tenant: str,
        message: Message,
        *,
        event: BehaviourEvent | None = None,
        learn: Learner | None = None,
        outbox: Sequence[DomainEvent] = (),
    ) -> Preferences | None:
        async def attempt() -> Preferences | None:
            return await self._add_message(tenant, message, event, learn, outbox)

        return await _retrying_deadlocks(attempt)

    async def _add_message(
        self,
        tenant: str,
        message: Message,
        event: BehaviourEvent | None,
        learn: Learner | None,
        outbox: Sequence[DomainEvent],
    ) -> Preferences | None:
        async with self.writer.begin() as conn:
            await conn.execute(
                insert(conversation_messages).values(
                    tenant=tenant,
                    id=message.id,
                    conversation_id=message.conversation_id,
                    user_id=message.user_id,
                    role=message.role,
                    content=message.content,
                    embedding=vector_bytes(message.embedding),
                    created_at=message.created_at,
                )
            )
            if outbox and self._outbox is not None:
                await self._outbox(conn, outbox)
            if event is not None and learn is not None:
                updated = await self._record(conn, tenant, [event], learn)
                return updated.get(event.user_id)
        return None

    async def messages(
        self, tenant: str, conversation_id: str, limit: int, *, before_seq: int | None = None
    ) -> list[Message]:
        table = conversation_messages
        query = select(table).where(
            table.c.tenant == tenant, table.c.conversation_id == conversation_id
        )
        if before_seq is not None:
            query = query.where(table.c.seq < before_seq)
        query = query.order_by(table.c.seq.desc()).limit(limit)
        async with self.reader.connect() as conn:
            rows = list(await conn.execute(query))
        return [_message(row, with_embedding=False) for row in reversed(rows)]

    async def recent_user_messages(self, tenant: str, user_id: str, limit: int) -> list[Message]:
        table = conversation_messages
        query = (
            select(table)
            .where(table.c.tenant == tenant, table.c.user_id == user_id, table.c.role == "user")
            .order_by(table.c.seq.desc())
            .limit(limit)
        )
        async with self.reader.connect() as conn:
            return [_message(row) for row in await conn.execute(query)]

    async def messages_by_id(self, tenant: str, ids: Sequence[str]) -> dict[str, Message]:
        if not ids:
            return {}
        table = conversation_messages
        query = select(table).where(table.c.tenant == tenant, table.c.id.in_(list(ids)))
        async with self.reader.connect() as conn:
            return {
                row.id: _message(row, with_embedding=False) for row in await conn.execute(query)
            }

    async def embedded_messages(
        self, *, after: tuple[str, str] = ("", ""), limit: int = 1000
    ) -> list[tuple[str, Message]]:
        table = conversation_messages
        query = (
            select(table)
            .where(
                table.c.embedding.is_not(None),
                tuple_(table.c.tenant, table.c.id) > tuple_(*after),
            )
            .order_by(table.c.tenant, table.c.id)
            .limit(limit)
        )
        async with self.reader.connect() as conn:
            return [(row.tenant, _message(row)) for row in await conn.execute(query)]


DEADLOCK_TRIES = 5


async def _retrying_deadlocks(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a transaction again when the database chose it as a deadlock's victim (rare:
    rows are locked in a fixed order; new users' rows on MySQL/MariaDB can still meet)."""
    for tries in range(1, DEADLOCK_TRIES + 1):
        try:
            return await attempt()
        except DBAPIError as exc:
            if tries == DEADLOCK_TRIES or not _is_deadlock(exc):
                raise
            await asyncio.sleep(0.005 * tries)
    raise AssertionError("unreachable")


def _is_deadlock(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "deadlock" in text or "1213" in text or "40p01" in text


def _product(row: Any) -> Product:
    return Product(
        id=row.id,
        name=row.name,
        description=row.description,
        category=row.category,
        price=float(row.price),
        tags=tuple(row.tags or ()),
        text_hash=row.text_hash,
        embedding=bytes_vector(row._mapping.get("embedding")),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _message(row: Any, *, with_embedding: bool = True) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        user_id=row.user_id,
        role=row.role,
        content=row.content,
        created_at=row.created_at,
        seq=int(row.seq),
        embedding=bytes_vector(row.embedding) if with_embedding else None,
    )
