"""Domain events on the real servers: the Redis lease lock (tokens, expiry, fencing),
the Redis dedupe marks, and the dispatcher sending to Redis Streams and to the Kafka
protocol broker, read back by an idempotent consumer."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.streams import KafkaStreamSink
from inferline.adapters.redis.dedupe import RedisProcessedEvents
from inferline.adapters.redis.locks import RedisLeaseLock
from inferline.adapters.redis.streams import RedisStreamSink, RedisStreamSource
from inferline.adapters.sql.domain_outbox import SqlDomainOutbox
from inferline.adapters.sql.store import SqlJobStore
from inferline.application.domain_consumers import Delivery, IdempotentConsumer
from inferline.application.domain_dispatch import DispatcherConfig, DomainEventDispatcher
from inferline.domain.domain_events import DomainEvent
from inferline.ports.dedupe import Seen
from inferline.ports.domain_events import FencedOut
from inferline.ports.streams import OutRecord
from inferline.testing import databases as dbs
from inferline.testing.clock import FakeClock
from inferline.testing.kafka import read_topic
from inferline.testing.polling import poll_until_async
from inferline.testing.server import sqlite_url
from inferline.testing.services import PrivateKafka, PrivateRedis
from tests.support.requirements import missing

REDIS = dbs.redis_url()


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[SqlDomainOutbox]:
    store = SqlJobStore(sqlite_url(tmp_path / "outbox.db"))
    await store.start()
    yield SqlDomainOutbox(store)
    await store.close()


@pytest.fixture
async def lock(redis_prefix: str) -> AsyncIterator[RedisLeaseLock]:
    lock = RedisLeaseLock(REDIS, redis_prefix)
    yield lock
    await lock.close()


def new_events(count: int, type: str = "user-preference-updated") -> list[DomainEvent]:
    return [DomainEvent.new(type, f"user-{n % 5}", {"n": n}, "t1") for n in range(count)]


async def test_redis_lock_one_holder_growing_tokens_expiry_and_floor(
    lock: RedisLeaseLock,
) -> None:
    first = await lock.acquire("d", "a", 30)
    assert first is not None and first.token == 1
    assert await lock.acquire("d", "b", 30) is None  # held
    assert await lock.renew(first, 30)
    assert await lock.holder("d") == "a|1"
    await lock.release(first)
    second = await lock.acquire("d", "b", 0.3)
    assert second is not None and second.token == 2
    assert not await lock.renew(first, 30)  # a released lease stays lost
    await poll_until_async(
        lambda: lock.holder("d"), "the lease ran out", timeout=10, accept=lambda h: h is None
    )
    assert not await lock.renew(second, 30)  # ran out: renewing does not bring it back
    third = await lock.acquire("d", "c", 30)
    assert third is not None and third.token == 3
    await lock.release(second)  # a stale holder's release leaves the new holder alone
    assert await lock.holder("d") == "c|3"
    await lock.release(third)
    await lock.raise_floor("d", 41)  # e.g. Redis restarted empty; the outbox saw 41
    fourth = await lock.acquire("d", "c", 30)
    assert fourth is not None and fourth.token == 42


async def test_redis_dedupe_marks(redis_prefix: str) -> None:
    seen = RedisProcessedEvents(REDIS, redis_prefix)
    try:
        assert await seen.begin("c", "e1", 30) is Seen.NEW
        assert await seen.begin("c", "e1", 30) is Seen.PROCESSING
        assert await seen.begin("other", "e1", 30) is Seen.NEW
        await seen.done("c", "e1", 60)
        assert await seen.begin("c", "e1", 30) is Seen.DONE
        await seen.forget("other", "e1")
        assert await seen.begin("other", "e1", 0.2) is Seen.NEW
        await poll_until_async(
            lambda: seen.begin("other", "e1", 30),
            "the processing mark ran out",
            timeout=10,
            accept=lambda s: s is Seen.NEW,
        )
    finally:
        await seen.close()


async def test_redis_lock_fences_a_stale_dispatcher(
    outbox: SqlDomainOutbox, lock: RedisLeaseLock, redis_prefix: str
) -> None:
    sink = RedisStreamSink(REDIS, redis_prefix)
    config = DispatcherConfig(lease_seconds=0.5)
    stale = DomainEventDispatcher(outbox, sink, lock, holder="stale", config=config)
    fresh = DomainEventDispatcher(outbox, sink, lock, holder="fresh", config=config)
    try:
        await outbox.append(new_events(2))
        assert await stale.ensure_lease()
        assert stale._renewer is not None
        stale._renewer.cancel()  # it stops renewing, as a paused process would
        await poll_until_async(lambda: fresh.ensure_lease(), "the lease moved", timeout=10)
        stale_lease = stale.lease
        assert stale_lease is not None and fresh.lease is not None
        assert fresh.lease.token > stale_lease.token
        ids = [p.event.id for p in await outbox.due_events(10, time.time())]
        with pytest.raises(FencedOut):  # a mark under the old token: refused, atomically
            await outbox.mark_sent(config.name, stale_lease.token, ids, time.time())
        assert await stale.dispatch_once() == 0  # its TTL passed: it sends nothing
        assert stale.lease is None
        assert (await outbox.backlog()).unsent == 2
        assert await fresh.dispatch_once() == 2
        assert (await outbox.backlog()).unsent == 0
    finally:
        await fresh.stop()
        await stale.stop()
        await sink.close()


async def test_dispatch_to_redis_streams_read_by_an_idempotent_consumer(
    outbox: SqlDomainOutbox, lock: RedisLeaseLock, redis_prefix: str
) -> None:
    sink = RedisStreamSink(REDIS, redis_prefix)
    topic = "domain.user-preference-updated"
    source = RedisStreamSource(REDIS, redis_prefix, topic, "rec-cache", name="c1")
    seen = RedisProcessedEvents(REDIS, redis_prefix)
    applied: list[str] = []

    async def apply(event: DomainEvent) -> None:
        applied.append(event.id)

    consumer = IdempotentConsumer("rec-cache", seen, apply)
    dispatcher = DomainEventDispatcher(outbox, sink, lock, holder="d")
    try:
        await source.start()
        sent = new_events(150)
        await outbox.append(sent)
        assert await dispatcher.dispatch_once() == 100
        assert await dispatcher.dispatch_once() == 50
        # the broker hands out a batch twice (a dispatcher died between send and mark)
        await sink.send([_record(topic, e) for e in sent[:10]])
        deliveries: list[Delivery] = []

        async def consume() -> int:
            records = await source.read(200, 0.1)
            for record in records:
                deliveries.append(await consumer.record(record))
            await source.commit(records)
            return len(deliveries)

        await poll_until_async(consume, "160 deliveries", timeout=20, accept=lambda n: n >= 160)
        assert applied == [e.id for e in sent]
        assert deliveries.count(Delivery.DUPLICATE) == 10
    finally:
        await dispatcher.stop()
        await source.close()
        await sink.close()
        await seen.close()


def _record(topic: str, event: DomainEvent) -> OutRecord:
    return OutRecord(topic, event.key, json.dumps(event.to_json()).encode())


async def test_dispatch_to_the_kafka_broker_keyed_by_the_events_key(
    outbox: SqlDomainOutbox, kafka_broker: PrivateKafka, kafka_prefix: str, redis_prefix: str
) -> None:
    config = KafkaConfig(kafka_broker.address, topic_prefix=kafka_prefix, partitions=3)
    sink = KafkaStreamSink(config)
    lock = RedisLeaseLock(REDIS, redis_prefix)
    dispatcher = DomainEventDispatcher(outbox, sink, lock, holder="d")
    try:
        await sink.start()
        sent = new_events(120, type="order-placed")
        await outbox.append(sent)
        assert await dispatcher.dispatch_once() == 100
        assert await dispatcher.dispatch_once() == 20
        records = await asyncio.to_thread(
            read_topic,
            config,
            config.topic("domain.order-placed"),
            until=lambda got: len(got) >= 120,
            settle_seconds=0.2,
        )
        by_id = {json.loads(value)["id"]: (key, json.loads(value)) for key, value in records}
        assert len(records) == 120 and set(by_id) == {e.id for e in sent}
        for event in sent:
            key, value = by_id[event.id]
            assert key == event.key and DomainEvent.from_json(value) == event
        assert (await outbox.backlog()).unsent == 0
    finally:
        await dispatcher.stop()
        await sink.close()
        await lock.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    try:
        server = PrivateRedis(tmp_path).start()
    except FileNotFoundError as exc:
        missing(str(exc))
    yield server
    server.stop()


async def test_a_broker_outage_delays_events_and_loses_none(
    outbox: SqlDomainOutbox, lock: RedisLeaseLock, private_redis: PrivateRedis
) -> None:
    clock = FakeClock(time.time())
    sink = RedisStreamSink(private_redis.url, "app")
    dispatcher = DomainEventDispatcher(outbox, sink, lock, holder="d", clock=clock)
    sent = new_events(5)
    try:
        await outbox.append(sent)
        private_redis.stop()  # the stream's server is down
        assert await dispatcher.dispatch_once() == 0
        row = await outbox.get(sent[0].id)
        assert row is not None and row["attempts"] == 1 and row["sent_at"] is None
        assert "Connection" in str(row["last_error"])
        private_redis.start()  # back (empty)
        assert await dispatcher.dispatch_once() == 0  # still waiting for its retry
        clock.advance(dispatcher.config.retry_base_seconds)  # the longest first wait
        assert await dispatcher.dispatch_once() == 5
        assert await sink.client.xlen("app:domain.user-preference-updated") == 5
    finally:
        await dispatcher.stop()
        await sink.close()


async def test_a_lock_server_that_lost_its_counter_never_reissues_an_old_token(
    outbox: SqlDomainOutbox, private_redis: PrivateRedis, redis_prefix: str
) -> None:
    lock = RedisLeaseLock(private_redis.url, "app")
    sink = RedisStreamSink(REDIS, redis_prefix)
    try:
        first = DomainEventDispatcher(outbox, sink, lock, holder="first")
        for _ in range(3):  # tokens 1, 2, 3, each presented to the outbox
            assert await first.ensure_lease()
            await first.stop()
        private_redis.stop()
        private_redis.start()  # the lock's Redis comes back empty: its counter is 0
        second = DomainEventDispatcher(outbox, sink, lock, holder="second")
        await outbox.append(new_events(1))
        try:
            sent = await second.dispatch_once()
        except RedisConnectionError:  # a pooled connection to the old server, once
            sent = await second.dispatch_once()  # (the relay's loop retries the same way)
        assert sent == 1
        assert second.lease is not None and second.lease.token == 4
        await second.stop()
    finally:
        await lock.close()
        await sink.close()
