"""The domain event dispatcher on the embedded adapters (SQLite outbox, in-process sink,
lock and dedupe), on a fake clock: batches of 100, backoff, marks only after the
acknowledgement, fencing, retention, and an idempotent consumer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from inferline.adapters.memory.dedupe import InProcessProcessedEvents
from inferline.adapters.memory.locks import InProcessLeaseLock
from inferline.adapters.memory.streams import InProcessStreamSink
from inferline.adapters.sql.domain_outbox import SqlDomainOutbox
from inferline.adapters.sql.store import SqlJobStore
from inferline.application.domain_consumers import Delivery, IdempotentConsumer
from inferline.application.domain_dispatch import DispatcherConfig, DomainEventDispatcher
from inferline.core.metrics import Metrics
from inferline.domain.domain_events import DomainEvent
from inferline.ports.domain_events import PendingEvent
from inferline.ports.streams import OutRecord
from inferline.testing.clock import FakeClock


class Broker:
    """An in-process subscriber that refuses (raises) while `down`: a broker outage."""

    def __init__(self) -> None:
        self.down = False
        self.records: list[OutRecord] = []

    async def __call__(self, record: OutRecord) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.records.append(record)

    def ids(self) -> list[str]:
        return [json.loads(r.value)["id"] for r in self.records]


def events(count: int, at: float, type: str = "conv-msg-created") -> list[DomainEvent]:
    return [DomainEvent.new(type, f"user-{n % 4}", {"n": n}, "t1", at=at) for n in range(count)]


def dispatcher(
    outbox: SqlDomainOutbox,
    sink: InProcessStreamSink,
    lock: InProcessLeaseLock,
    clock: FakeClock,
    holder: str = "d1",
    metrics: Metrics | None = None,
) -> DomainEventDispatcher:
    config = DispatcherConfig(retry_base_seconds=1.0, retry_max_seconds=8.0, retention_seconds=3600)
    made = DomainEventDispatcher(
        outbox, sink, lock, holder=holder, config=config, clock=clock, metrics=metrics
    )
    MADE.append(made)
    return made


MADE: list[DomainEventDispatcher] = []


@pytest.fixture(autouse=True)
async def stop_dispatchers() -> AsyncIterator[None]:
    """Stop every dispatcher a test made (their lease renewal tasks)."""
    yield
    while MADE:
        await MADE.pop().stop()


@pytest.fixture
def outbox(embedded_store: SqlJobStore) -> SqlDomainOutbox:
    return SqlDomainOutbox(embedded_store)


async def test_sends_in_batches_of_100_in_order_then_marks_them(
    outbox: SqlDomainOutbox, clock: FakeClock
) -> None:
    sink, broker = InProcessStreamSink(), Broker()
    sink.subscribe(broker)
    metrics = Metrics()
    sent = events(250, clock.now())
    await outbox.append(sent)
    d = dispatcher(outbox, sink, InProcessLeaseLock(clock.now), clock, metrics=metrics)
    assert [await d.dispatch_once() for _ in range(4)] == [100, 100, 50, 0]
    assert broker.ids() == [e.id for e in sent]
    first = broker.records[0]
    assert first.topic == "domain.conv-msg-created" and first.key == "user-0"
    assert DomainEvent.from_json(json.loads(first.value)) == sent[0]
    assert (await outbox.backlog()).unsent == 0
    assert metrics.sample_value("inferline_domain_events_sent_total", {"type": sent[0].type}) == 250
    assert metrics.sample_value("inferline_domain_events_leader", {}) == 1


async def test_a_failed_send_marks_nothing_and_retries_with_exponential_backoff(
    outbox: SqlDomainOutbox, clock: FakeClock
) -> None:
    sink, broker = InProcessStreamSink(), Broker()
    sink.subscribe(broker)
    [event] = events(1, clock.now())
    await outbox.append([event])
    d = dispatcher(outbox, sink, InProcessLeaseLock(clock.now), clock)
    broker.down = True
    waits = []
    for attempt in range(1, 6):
        assert await d.dispatch_once() == 0
        row = await outbox.get(event.id)
        assert row is not None and row["sent_at"] is None and row["attempts"] == attempt
        assert row["last_error"] == "ConnectionError: broker unreachable"
        waits.append(row["next_attempt_at"] - clock.now())
        assert await d.dispatch_once() == 0  # not due yet: not even tried
        assert (await outbox.get(event.id) or {})["attempts"] == attempt
        clock.advance(waits[-1])
    # 1, 2, 4, 8, 8 s (capped), each between half and all of it
    for wait, base in zip(waits, [1, 2, 4, 8, 8], strict=True):
        assert base / 2 <= wait <= base
    broker.down = False
    assert await d.dispatch_once() == 1
    assert broker.ids() == [event.id]
    row = await outbox.get(event.id)
    assert row is not None and row["sent_at"] == clock.now() and row["last_error"] is None


async def test_only_the_lease_holder_sends_and_a_stale_holder_cannot_mark(
    outbox: SqlDomainOutbox, clock: FakeClock
) -> None:
    sink, broker = InProcessStreamSink(), Broker()
    sink.subscribe(broker)
    lock = InProcessLeaseLock(clock.now)
    first, second = (dispatcher(outbox, sink, lock, clock, holder=h) for h in ("d1", "d2"))
    await outbox.append(events(3, clock.now()))
    assert await first.dispatch_once() == 3
    await outbox.append(events(2, clock.now()))
    assert await second.dispatch_once() == 0  # the lock is held: it sends nothing
    assert len(broker.records) == 3
    # d1 pauses past its lease; d2 takes over; d1 knows it lost it and sends nothing
    clock.advance(first.config.lease_seconds + 1)
    assert await second.ensure_lease()
    assert await first.dispatch_once() == 0 and first.lease is None
    assert await second.dispatch_once() == 2
    assert second.lease is not None
    # d2 pauses during a send (after the broker's acknowledgement), past its lease;
    # d1 takes over meanwhile, so d2's mark is refused by the fence
    resumed = first

    async def pause_past_the_lease(batch: list[PendingEvent]) -> None:
        clock.advance(second.config.lease_seconds + 1)
        assert await resumed.ensure_lease()

    second.after_send = pause_past_the_lease
    await outbox.append(events(1, clock.now()))
    stale_token = second.lease.token
    assert await second.dispatch_once() == 0
    assert second.lease is None  # it learnt that it lost the lease
    assert first.lease is not None and first.lease.token > stale_token
    assert len(broker.records) == 6  # a duplicate send is possible, never a lost event
    assert (await outbox.backlog()).unsent == 1
    assert await first.dispatch_once() == 1
    assert (await outbox.backlog()).unsent == 0
    assert len(broker.records) == 7


async def test_a_crash_between_send_and_mark_resends_and_the_consumer_applies_once(
    outbox: SqlDomainOutbox, clock: FakeClock
) -> None:
    sink = InProcessStreamSink()
    applied: list[str] = []

    async def apply(event: DomainEvent) -> None:
        applied.append(event.id)

    consumer = IdempotentConsumer("rec-cache", InProcessProcessedEvents(clock.now), apply)
    deliveries: list[Delivery] = []

    async def deliver(record: OutRecord) -> None:
        deliveries.append(await consumer.record_value(record.value))

    sink.subscribe(deliver)
    lock = InProcessLeaseLock(clock.now)
    crashing = dispatcher(outbox, sink, lock, clock, holder="dies")

    async def crash(batch: list[PendingEvent]) -> None:
        raise SystemExit("the process died after the broker acknowledged")

    crashing.after_send = crash
    sent = events(3, clock.now())
    await outbox.append(sent)
    with pytest.raises(SystemExit):
        await crashing.dispatch_once()
    assert (await outbox.backlog()).unsent == 3  # sent, acknowledged, not marked
    clock.advance(crashing.config.lease_seconds)  # its lease runs out
    successor = dispatcher(outbox, sink, lock, clock, holder="next")
    assert await successor.dispatch_once() == 3
    assert deliveries == [Delivery.APPLIED] * 3 + [Delivery.DUPLICATE] * 3
    assert applied == [e.id for e in sent]
    assert (await outbox.backlog()).unsent == 0


async def test_sent_events_are_pruned_after_the_retention(
    outbox: SqlDomainOutbox, clock: FakeClock
) -> None:
    sink = InProcessStreamSink()
    d = dispatcher(outbox, sink, InProcessLeaseLock(clock.now), clock)
    old = events(2, clock.now(), type="order-placed")
    await outbox.append(old)
    assert await d.dispatch_once() == 2
    assert len(sink.recent("domain.order-placed")) == 2
    clock.advance(3599)
    await d.dispatch_once()
    assert await outbox.get(old[0].id) is not None
    clock.advance(120)  # past the retention, and a minute after the last prune
    await d.dispatch_once()
    assert await outbox.get(old[0].id) is None and await outbox.get(old[1].id) is None


async def test_a_consumer_that_fails_applies_the_event_at_the_next_delivery(
    clock: FakeClock,
) -> None:
    seen = InProcessProcessedEvents(clock.now)
    calls: list[str] = []

    async def flaky(event: DomainEvent) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("the cache was down")

    consumer = IdempotentConsumer("c", seen, flaky, processing_seconds=30)
    [event] = events(1, clock.now())
    with pytest.raises(RuntimeError):
        await consumer(event)
    assert await consumer(event) is Delivery.APPLIED
    assert await consumer(event) is Delivery.DUPLICATE
    other = IdempotentConsumer("another-consumer", seen, flaky)
    assert await other(event) is Delivery.APPLIED  # each consumer applies it once
    # a delivery while another is being applied waits; a dead applier's mark runs out
    [late] = events(1, clock.now())
    assert await seen.begin("c", late.id, 30) is not None
    assert await consumer(late) is Delivery.BUSY
    clock.advance(31)
    assert await consumer(late) is Delivery.APPLIED


async def test_a_lock_counter_behind_the_outbox_is_raised_before_sending(
    outbox: SqlDomainOutbox, clock: FakeClock
) -> None:
    """The lock's server lost its counter (Redis restarted empty): the first token it
    hands out is older than one the outbox has seen, so the dispatcher lifts it first."""
    await outbox.fence("domain-events", 41)
    sink = InProcessStreamSink()
    d = dispatcher(outbox, sink, InProcessLeaseLock(clock.now), clock)
    await outbox.append(events(2, clock.now()))
    assert await d.dispatch_once() == 2
    assert d.lease is not None and d.lease.token == 42


async def test_a_failed_batch_is_retried_together(
    outbox: SqlDomainOutbox, clock: FakeClock
) -> None:
    sink, broker = InProcessStreamSink(), Broker()
    sink.subscribe(broker)
    broker.down = True
    batch = events(3, clock.now())
    await outbox.append(batch)
    d = dispatcher(outbox, sink, InProcessLeaseLock(clock.now), clock)
    assert await d.dispatch_once() == 0
    rows = [await outbox.get(e.id) for e in batch]
    assert len({row["next_attempt_at"] for row in rows if row is not None}) == 1
    broker.down = False
    clock.advance(1)
    assert await d.dispatch_once() == 3
    assert broker.ids() == [e.id for e in batch]  # in their order
