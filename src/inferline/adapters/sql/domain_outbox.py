"""The domain event outbox on SQL (SQLite, PostgreSQL, MySQL/MariaDB): `domain_outbox`.

The contract for writers
------------------------
An adapter that changes state and has a fact to announce calls
`append_domain_events(conn, events)` with the connection of its own open transaction,
before that transaction commits:

    async with writer.begin() as conn:                  # the app's own transaction
        await conn.execute(update(orders)...)            # the change
        await append_domain_events(conn, [DomainEvent.new("order-placed", user_id,
                                                          {"order_id": oid}, tenant)])
    # committed: the order and its event, or (on any error) neither

It only INSERTs; it never begins, commits or rolls back. `conn` is whatever the
platform's engines give (`create_engines`: an `AsyncConnection` on PostgreSQL and
MySQL, the threaded SQLite connection otherwise); both `await conn.execute(...)`.
Apps do not import this module (the layers forbid it): the composition root hands
them this function as a `ports.domain_events.DomainEventAppender`.

A consumer whose effect is a write to this database records the event it applies
in the same transaction, `await consume_domain_event_once(conn, consumer, event.id,
now)` (False: already applied, skip), for an exactly-once effect (the port
`ConsumedEvents`, handed out by `bootstrap.domain_event_consumption()`).

The dispatcher's side is `SqlDomainOutbox` (the `DomainOutbox` port): unsent events
in `seq` order, marks fenced by the `domain_outbox_fence` row (a mark under a token
older than the newest one presented is refused in the mark's own transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inferline.adapters.sql.base import SqlStoreBase, chunks
from inferline.adapters.sql.engine import SqlConnection
from inferline.adapters.sql.schema import (
    domain_events_consumed,
    domain_outbox,
    domain_outbox_fence,
)
from inferline.domain.domain_events import DomainEvent
from inferline.ports.domain_events import FencedOut, OutboxBacklog, PendingEvent, SendFailure


def domain_event_values(event: DomainEvent) -> dict[str, Any]:
    """The `domain_outbox` row of a new event (not sent, due at once)."""
    return {
        "id": event.id,
        "type": event.type,
        "key": event.key,
        "tenant": event.tenant,
        "payload": event.payload,
        "occurred_at": event.occurred_at,
        "attempts": 0,
        # due at once, whatever the writer's clock said (a clock ahead must not delay it)
        "next_attempt_at": 0.0,
        "sent_at": None,
        "last_error": None,
    }


async def append_domain_events(conn: Any, events: Sequence[DomainEvent]) -> None:
    """Insert `events` into the outbox inside the caller's open transaction.

    Never commits: the events are committed (or rolled back) with the caller's change.
    An event id that already exists is an error (the transaction fails): ids are fresh
    UUID4s, so a duplicate means the same event object was appended twice.
    """
    if events:
        await conn.execute(insert(domain_outbox), [domain_event_values(e) for e in events])


async def consume_domain_event_once(conn: Any, consumer: str, event_id: str, at: float) -> bool:
    """Record, inside the caller's open transaction, that `consumer` applies `event_id`.

    True the first time: the caller applies the event's effect in the same transaction,
    and both commit together. False when it was recorded before (a redelivery): the
    caller skips the effect. A concurrent delivery's transaction waits for the first
    one's and then gets False, so the effect happens exactly once.
    """
    values = {"consumer": consumer, "event_id": event_id, "consumed_at": at}
    name = conn.dialect.name
    statement: Any
    if name == "postgresql":
        statement = pg_insert(domain_events_consumed).on_conflict_do_nothing()
    elif name == "sqlite":
        statement = sqlite_insert(domain_events_consumed).on_conflict_do_nothing()
    else:  # MySQL, MariaDB
        statement = mysql_insert(domain_events_consumed).prefix_with("IGNORE")
    result = await conn.execute(statement, values)
    return (result.rowcount or 0) == 1


def pending_from_row(row: Row[Any]) -> PendingEvent:
    m = row._mapping
    event = DomainEvent(
        id=m["id"],
        type=m["type"],
        key=m["key"],
        payload=m["payload"],
        tenant=m["tenant"],
        occurred_at=m["occurred_at"],
    )
    return PendingEvent(seq=m["seq"], event=event, attempts=m["attempts"])


class SqlDomainOutbox:
    """`DomainOutbox` on the job store's database and engines (the store starts them)."""

    def __init__(self, store: SqlStoreBase) -> None:
        self.store = store

    async def append(self, events: Sequence[DomainEvent]) -> None:
        """Append in a transaction of its own (for tests and for callers with no change
        of their own to commit with the events)."""
        async with self.store.writer.begin() as conn:
            await append_domain_events(conn, events)

    async def due_events(self, limit: int, now: float) -> list[PendingEvent]:
        query = (
            select(domain_outbox)
            .where(domain_outbox.c.sent_at.is_(None), domain_outbox.c.next_attempt_at <= now)
            .order_by(domain_outbox.c.seq)
            .limit(limit)
        )
        async with self.store.reader.connect() as conn:
            return [pending_from_row(r) for r in await conn.execute(query)]

    async def fence(self, name: str, token: int) -> int:
        async with self.store.writer.begin() as conn:
            stored = await self._locked_token(conn, name)
            if stored >= token:
                return stored
            await self._set_token(conn, name, token)
            return token

    async def _locked_token(self, conn: SqlConnection, name: str) -> int:
        """The fence row's token (0: none yet), locked until the transaction ends. The
        row is created when missing, so that two first fences serialize on it too."""
        query = (
            select(domain_outbox_fence.c.token)
            .where(domain_outbox_fence.c.name == name)
            .with_for_update()
        )
        row = (await conn.execute(query)).first()
        if row is None:
            await conn.execute(
                self.store._insert_ignoring_duplicates(domain_outbox_fence),
                {"name": name, "token": 0},
            )
            row = (await conn.execute(query)).first()
            assert row is not None
        return int(row[0])

    async def _set_token(self, conn: SqlConnection, name: str, token: int) -> None:
        await conn.execute(
            update(domain_outbox_fence)
            .where(domain_outbox_fence.c.name == name)
            .values(token=token)
        )

    async def _check_fence(self, conn: SqlConnection, name: str, token: int) -> None:
        """Refuse (`FencedOut`) a token older than the newest presented; hold the row."""
        stored = await self._locked_token(conn, name)
        if stored > token:
            raise FencedOut(
                f"dispatcher {name!r}: fencing token {token} is older than {stored}; "
                "its lease was lost and another dispatcher holds it",
                details={"token": token, "current": stored},
            )
        if stored < token:
            await self._set_token(conn, name, token)

    async def mark_sent(self, name: str, token: int, ids: Sequence[str], now: float) -> int:
        changed = 0
        async with self.store.writer.begin() as conn:
            await self._check_fence(conn, name, token)
            for chunk in chunks(list(ids)):
                result = await conn.execute(
                    update(domain_outbox)
                    .where(domain_outbox.c.id.in_(chunk), domain_outbox.c.sent_at.is_(None))
                    .values(sent_at=now, last_error=None)
                )
                changed += result.rowcount or 0
        return changed

    async def mark_failed(self, name: str, token: int, failures: Sequence[SendFailure]) -> None:
        if not failures:
            return
        statement = (
            update(domain_outbox)
            .where(domain_outbox.c.id == bindparam("b_id"), domain_outbox.c.sent_at.is_(None))
            .values(
                attempts=domain_outbox.c.attempts + 1,
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"),
            )
        )
        params = [
            {"b_id": f.id, "b_next": f.next_attempt_at, "b_error": f.error[:2000]} for f in failures
        ]
        async with self.store.writer.begin() as conn:
            await self._check_fence(conn, name, token)
            await conn.execute(statement, params)

    async def prune(self, sent_before: float) -> int:
        async with self.store.writer.begin() as conn:
            result = await conn.execute(
                delete(domain_outbox).where(
                    domain_outbox.c.sent_at.is_not(None), domain_outbox.c.sent_at < sent_before
                )
            )
            deleted = result.rowcount or 0
            result = await conn.execute(  # consumers' marks age out with the events
                delete(domain_events_consumed).where(
                    domain_events_consumed.c.consumed_at < sent_before
                )
            )
        return deleted + (result.rowcount or 0)

    async def backlog(self) -> OutboxBacklog:
        query = select(func.count(), func.min(domain_outbox.c.occurred_at)).where(
            domain_outbox.c.sent_at.is_(None)
        )
        async with self.store.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return OutboxBacklog(0, None)
        values: tuple[Any, ...] = tuple(row)
        count, oldest = values
        return OutboxBacklog(int(count), None if oldest is None else float(oldest))

    async def get(self, event_id: str) -> dict[str, Any] | None:
        """One outbox row as a dict (tests, operators)."""
        async with self.store.reader.connect() as conn:
            row = (
                await conn.execute(select(domain_outbox).where(domain_outbox.c.id == event_id))
            ).first()
        return dict(row._mapping) if row is not None else None
