"""The domain event outbox on SQLite, PostgreSQL and MariaDB: append in the caller's
transaction, read in order, fenced marks, backoff bookkeeping, retention."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, insert, select

from inferline.adapters.sql.domain_outbox import (
    SqlDomainOutbox,
    append_domain_events,
    consume_domain_event_once,
)
from inferline.adapters.sql.schema import workers
from inferline.adapters.sql.store import SqlJobStore
from inferline.domain.domain_events import DomainEvent
from inferline.domain.errors import InvalidInput
from inferline.ports.domain_events import FencedOut, SendFailure

T0 = 1_800_000_000.0


def event(n: int, *, at: float = T0, type: str = "order-placed") -> DomainEvent:
    return DomainEvent.new(type, f"user-{n % 3}", {"n": n, "note": "naïve ☃"}, "t1", at=at + n)


@pytest.fixture
async def outbox(store_url: str) -> AsyncIterator[SqlDomainOutbox]:
    store = SqlJobStore(store_url)
    await store.start()
    yield SqlDomainOutbox(store)
    await store.close()


def worker_row(worker_id: str) -> dict[str, object]:
    return {
        "id": worker_id,
        "host": "h",
        "pid": 1,
        "models": [],
        "in_flight": 0,
        "started_at": T0,
        "heartbeat_at": T0,
    }


async def test_events_commit_and_roll_back_with_the_callers_change(
    outbox: SqlDomainOutbox,
) -> None:
    store = outbox.store
    kept, lost = event(1), event(2)
    async with store.writer.begin() as conn:  # a change and its event: one transaction
        await conn.execute(insert(workers), worker_row("w-kept"))
        await append_domain_events(conn, [kept])

    async def failing_change() -> None:
        async with store.writer.begin() as conn:
            await conn.execute(insert(workers), worker_row("w-lost"))
            await append_domain_events(conn, [lost])
            raise RuntimeError("the change failed after the event was appended")

    with pytest.raises(RuntimeError):
        await failing_change()
    async with store.reader.connect() as conn:
        ids = [r[0] for r in await conn.execute(select(workers.c.id))]
    assert ids == ["w-kept"]
    due = await outbox.due_events(10, now=T0 + 100)
    assert [p.event for p in due] == [kept]  # payload, key, tenant and time round-trip
    assert due[0].attempts == 0
    assert await outbox.get(lost.id) is None


async def test_due_events_in_seq_order_marked_once_and_pruned(outbox: SqlDomainOutbox) -> None:
    events = [event(n) for n in range(5)]
    await outbox.append(events[:3])
    await outbox.append(events[3:])
    due = await outbox.due_events(4, now=T0 + 100)
    assert [p.event.id for p in due] == [e.id for e in events[:4]]
    assert [p.seq for p in due] == sorted(p.seq for p in due)
    assert await outbox.fence("d", 1) == 1
    assert await outbox.mark_sent("d", 1, [e.id for e in events[:2]], now=T0 + 200) == 2
    assert await outbox.mark_sent("d", 1, [events[0].id], now=T0 + 201) == 0  # already sent
    backlog = await outbox.backlog()
    assert backlog.unsent == 3 and backlog.oldest_occurred_at == events[2].occurred_at
    assert [p.event.id for p in await outbox.due_events(10, now=T0 + 100)] == [
        e.id for e in events[2:]
    ]
    sent = await outbox.get(events[0].id)
    assert sent is not None and sent["sent_at"] == T0 + 200
    assert await outbox.prune(sent_before=T0 + 200) == 0  # retention not over yet
    assert await outbox.prune(sent_before=T0 + 200.5) == 2
    assert await outbox.get(events[0].id) is None
    assert (await outbox.backlog()).unsent == 3  # unsent events are never pruned


async def test_failed_sends_wait_for_their_next_attempt(outbox: SqlDomainOutbox) -> None:
    first, second = event(1), event(2)
    await outbox.append([first, second])
    await outbox.fence("d", 7)
    await outbox.mark_failed("d", 7, [SendFailure(first.id, T0 + 500, "broker said no")])
    due = await outbox.due_events(10, now=T0 + 100)
    assert [p.event.id for p in due] == [second.id]
    later = await outbox.due_events(10, now=T0 + 500)
    assert [(p.event.id, p.attempts) for p in later] == [(first.id, 1), (second.id, 0)]
    row = await outbox.get(first.id)
    assert row is not None and row["last_error"] == "broker said no"
    await outbox.mark_sent("d", 7, [first.id], now=T0 + 600)
    row = await outbox.get(first.id)
    assert row is not None and row["last_error"] is None and row["attempts"] == 1


async def test_a_stale_fencing_token_cannot_mark(outbox: SqlDomainOutbox) -> None:
    one = event(1)
    await outbox.append([one])
    assert await outbox.fence("d", 3) == 3
    assert await outbox.fence("d", 4) == 4  # a newer holder presents its token
    assert await outbox.fence("d", 3) == 4  # the old one learns it is stale
    with pytest.raises(FencedOut):
        await outbox.mark_sent("d", 3, [one.id], now=T0 + 1)
    with pytest.raises(FencedOut):
        await outbox.mark_failed("d", 3, [SendFailure(one.id, T0 + 9, "x")])
    row = await outbox.get(one.id)
    assert row is not None and row["sent_at"] is None and row["attempts"] == 0
    assert await outbox.fence("other", 1) == 1  # fences are per dispatcher name
    assert await outbox.mark_sent("d", 5, [one.id], now=T0 + 2) == 1  # newer: accepted
    assert await outbox.fence("d", 4) == 5


async def test_a_consumers_database_effect_happens_exactly_once(outbox: SqlDomainOutbox) -> None:
    """The consumed mark and the effect commit together: a redelivery, or two concurrent
    deliveries, apply it once; a rolled-back effect leaves no mark."""
    store = outbox.store
    one = event(1)

    async def deliver(worker_id: str, fail: bool = False) -> bool:
        async with store.writer.begin() as conn:
            if not await consume_domain_event_once(conn, "workers-view", one.id, T0):
                return False
            await conn.execute(insert(workers), worker_row(worker_id))  # the effect
            if fail:
                raise RuntimeError("the consumer died before its commit")
        return True

    with pytest.raises(RuntimeError):
        await deliver("w-rolled-back", fail=True)
    outcomes = await asyncio.gather(*(deliver(f"w-{n}") for n in range(4)))
    assert sorted(outcomes) == [False, False, False, True]
    assert await deliver("w-late") is False
    async with store.writer.begin() as conn:  # another consumer applies it too
        assert await consume_domain_event_once(conn, "another", one.id, T0)
    async with store.reader.connect() as conn:
        row = (await conn.execute(select(func.count()).select_from(workers))).first()
    assert row is not None and row[0] == 1
    assert await outbox.prune(sent_before=T0 + 1) == 2  # the marks age out with the events


def test_invalid_events_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="type"):
        DomainEvent.new("Order Placed!", "k", {}, "t")
    with pytest.raises(InvalidInput, match="key"):
        DomainEvent.new("order-placed", "", {}, "t")
    with pytest.raises(InvalidInput, match="payload"):
        DomainEvent.new("order-placed", "k", {"x": float("nan")}, "t")
    made = DomainEvent.new("order-placed", "k", {"a": [1]}, "t", at=5.0)
    assert DomainEvent.from_json(made.to_json()) == made
    assert len(made.id) == 32 and made.occurred_at == 5.0
