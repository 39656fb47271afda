"""The domain event dispatcher as real `inferline relay` processes on PostgreSQL and Redis:
killed between the broker's acknowledgement and the mark it loses nothing and the
consumer applies each event once; of two relays only the lease holder sends, a paused
holder is taken over and stays a follower, a killed one is taken over after the TTL."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from inferline.adapters.redis.dedupe import RedisProcessedEvents
from inferline.adapters.redis.streams import RedisStreamSource
from inferline.adapters.sql.domain_outbox import SqlDomainOutbox
from inferline.adapters.sql.store import SqlJobStore
from inferline.application.domain_consumers import Delivery, IdempotentConsumer
from inferline.domain.domain_events import DomainEvent
from inferline.testing import databases as dbs
from inferline.testing.polling import poll_until_async
from inferline.testing.server import PROCESS_START_TIMEOUT, ServerProcess, relay_process
from tests.support.requirements import require_server

REDIS = dbs.redis_url()
TOPIC = "domain.order-placed"
LEASE = "1"  # seconds: a dead holder is taken over this long after its last renewal


@pytest.fixture
async def database() -> AsyncIterator[str]:
    require_server(dbs.POSTGRES)
    name = dbs.unique_name()
    url = await dbs.create_postgres_database(name)
    yield url
    await dbs.drop_postgres_database(name)


@pytest.fixture
async def outbox(database: str) -> AsyncIterator[SqlDomainOutbox]:
    store = SqlJobStore(database)
    await store.start()  # migrates, so the relays start on a ready schema
    yield SqlDomainOutbox(store)
    await store.close()


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(REDIS, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def relays(tmp_path: Path, database: str, redis_prefix: str) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def start(name: str, **settings: str) -> ServerProcess:
        process = relay_process(
            database,
            tmp_path / f"{name}.log",
            domain_events_url=REDIS,
            redis_prefix=redis_prefix,
            domain_events_lease_seconds=LEASE,
            **settings,
        ).start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process is not None and process.process.poll() is None:
            process.process.send_signal(signal.SIGCONT)
        process.kill()


def orders(count: int) -> list[DomainEvent]:
    return [
        DomainEvent.new("order-placed", f"user-{n % 7}", {"order": n, "total": 9.5}, "t1")
        for n in range(count)
    ]


async def unsent(outbox: SqlDomainOutbox) -> int:
    return (await outbox.backlog()).unsent


async def holder_pid(redis: Redis, prefix: str) -> int | None:
    """The pid in the lock's value (`<host>-<pid>-<suffix>|<token>`)."""
    value = await redis.get(f"{prefix}:lock:domain-events")
    return None if value is None else int(str(value).split("|")[0].split("-")[-2])


def pid(process: ServerProcess) -> int:
    assert process.process is not None
    return process.process.pid


async def consume_all(redis_prefix: str, expected: int) -> tuple[list[str], list[Delivery]]:
    """Read the topic from its start as an idempotent consumer; (applied ids, deliveries)."""
    source = RedisStreamSource(REDIS, redis_prefix, TOPIC, "rec-cache", name="consumer-1")
    seen = RedisProcessedEvents(REDIS, redis_prefix)
    applied: list[str] = []

    async def apply(event: DomainEvent) -> None:
        applied.append(event.id)

    consumer = IdempotentConsumer("rec-cache", seen, apply)
    deliveries: list[Delivery] = []

    async def read() -> int:
        records = await source.read(500, 0.1)
        for record in records:
            deliveries.append(await consumer.record(record))
        await source.commit(records)
        return len(deliveries)

    try:
        await source.start()
        await poll_until_async(
            read, f"{expected} deliveries", timeout=30, accept=lambda n: n >= expected
        )
    finally:
        await source.close()
        await seen.close()
    return applied, deliveries


async def relay_paused_after_send(
    relays: Any, tmp_path: Path, name: str
) -> tuple[ServerProcess, Path]:
    """A relay that pauses after its first send (before the mark), once it has paused; and
    its pause file (the ids it sent; touch `<file>.resume` to let it go on)."""
    paused = tmp_path / "paused-after-send"
    relay = relays(name, domain_events_pause_after_send=str(paused))
    await poll_until_async(
        paused.exists, "the relay sent a batch and paused", timeout=PROCESS_START_TIMEOUT
    )
    return relay, paused


async def test_killed_between_send_and_mark_no_event_is_lost_and_each_applies_once(
    outbox: SqlDomainOutbox, relays: Any, redis: Redis, redis_prefix: str, tmp_path: Path
) -> None:
    events = orders(30)
    await outbox.append(events)
    first, paused = await relay_paused_after_send(relays, tmp_path, "first")
    sent_ids = paused.read_text().split()
    assert sent_ids == [e.id for e in events]
    stream = f"{redis_prefix}:{TOPIC}"
    assert await redis.xlen(stream) == 30  # acknowledged by the broker
    first.kill()  # SIGKILL between the acknowledgement and the mark
    assert await unsent(outbox) == 30  # nothing was marked sent

    relays("restarted")
    await poll_until_async(
        lambda: unsent(outbox),
        "every event marked sent",
        timeout=PROCESS_START_TIMEOUT,
        accept=lambda n: n == 0,
    )
    assert await redis.xlen(stream) == 60  # the batch went out again: at least once
    applied, deliveries = await consume_all(redis_prefix, 60)
    assert sorted(applied) == sorted(e.id for e in events)  # each applied exactly once
    assert deliveries.count(Delivery.APPLIED) == 30
    assert deliveries.count(Delivery.DUPLICATE) == 30


async def test_one_of_two_relays_sends_a_paused_holder_is_fenced_a_killed_one_replaced(
    outbox: SqlDomainOutbox, relays: Any, redis: Redis, redis_prefix: str
) -> None:
    a, b = relays("a"), relays("b")
    by_pid = {pid(a): a, pid(b): b}
    await poll_until_async(
        lambda: holder_pid(redis, redis_prefix),
        "a relay holds the lease",
        timeout=PROCESS_START_TIMEOUT,
        accept=lambda p: p in by_pid,
    )
    await outbox.append(orders(40))
    await poll_until_async(lambda: unsent(outbox), "40 sent", timeout=30, accept=lambda n: n == 0)
    stream = f"{redis_prefix}:{TOPIC}"
    assert await redis.xlen(stream) == 40  # one sender: no event twice
    leader_pid = await holder_pid(redis, redis_prefix)
    assert leader_pid is not None
    leader = by_pid[leader_pid]
    follower = b if leader is a else a
    assert "holds the domain-events lease" not in follower.log_tail(400)

    # the leader freezes (SIGSTOP: a long pause); the follower takes over after the TTL
    os.kill(leader_pid, signal.SIGSTOP)
    await poll_until_async(
        lambda: holder_pid(redis, redis_prefix),
        "the follower took over",
        timeout=30,
        accept=lambda p: p == pid(follower),
    )
    await outbox.append(orders(20))
    await poll_until_async(
        lambda: unsent(outbox), "20 more sent", timeout=30, accept=lambda n: n == 0
    )
    os.kill(leader_pid, signal.SIGCONT)  # it wakes up believing it leads: it learns it does not
    await poll_until_async(
        lambda: leader.log_tail(400),
        "the old leader saw its lease lost",
        timeout=30,
        accept=lambda log: "lost the domain-events lease" in log,
    )
    assert await holder_pid(redis, redis_prefix) == pid(follower)

    # the new leader is killed: the old one takes over again after the TTL
    follower.kill()
    await outbox.append(orders(10))
    await poll_until_async(
        lambda: unsent(outbox), "10 more sent", timeout=30, accept=lambda n: n == 0
    )
    assert await holder_pid(redis, redis_prefix) == leader_pid
    assert await redis.xlen(stream) == 70  # each event once: the frozen one sent nothing
    applied, _ = await consume_all(redis_prefix, 70)
    assert len(applied) == len(set(applied)) == 70


async def test_a_relay_frozen_between_send_and_mark_is_refused_its_mark_by_the_fence(
    outbox: SqlDomainOutbox, relays: Any, redis: Redis, redis_prefix: str, tmp_path: Path
) -> None:
    events = orders(12)
    await outbox.append(events)
    stale, paused = await relay_paused_after_send(relays, tmp_path, "stale")
    os.kill(pid(stale), signal.SIGSTOP)  # frozen between the acknowledgement and the mark
    successor = relays("successor")
    await poll_until_async(
        lambda: unsent(outbox),
        "the successor sent and marked the batch",
        timeout=PROCESS_START_TIMEOUT,
        accept=lambda n: n == 0,
    )
    assert await holder_pid(redis, redis_prefix) == pid(successor)
    await asyncio.to_thread(Path(f"{paused}.resume").touch)
    os.kill(pid(stale), signal.SIGCONT)  # it goes on to mark under its old token
    log = await poll_until_async(
        lambda: stale.log_tail(400),
        "the stale relay's mark refused",
        timeout=30,
        accept=lambda text: "was refused" in text,
    )
    assert "fencing token 1 is older than 2" in log
    assert await holder_pid(redis, redis_prefix) == pid(successor)
    assert await redis.xlen(f"{redis_prefix}:{TOPIC}") == 24  # the batch twice, at least once
    applied, _ = await consume_all(redis_prefix, 24)
    assert sorted(applied) == sorted(e.id for e in events)
