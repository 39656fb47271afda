"""The Redis Streams job queue and the worker's queue source, on a real Redis (and SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inferline.adapters.redis.queue import RedisStreamQueue
from inferline.adapters.sql.store import SqlJobStore
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import JobStatus, NewJob, Outcome, OutcomeKind, RetryPolicy
from inferline.ports.queue import JobMessage
from inferline.runtime.dispatch import QueueDispatcher
from inferline.testing.databases import redis_url
from inferline.testing.polling import poll_until_async
from inferline.testing.server import sqlite_url
from inferline.worker.sources import QueueJobSource
from tests.support.jobs import admitted

MODEL = "moving-average"


@pytest.fixture
async def queue(redis_prefix: str) -> AsyncIterator[RedisStreamQueue]:
    queue = RedisStreamQueue(redis_url(), redis_prefix)
    await queue.start()
    yield queue
    await queue.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlJobStore]:
    store = SqlJobStore(sqlite_url(tmp_path / "jobs.db"))
    await store.start()
    yield store
    await store.close()


async def wait_until_idle(queue: RedisStreamQueue, millis: int, timeout: float = 5.0) -> None:
    """Wait until every pending message of the stream has been idle `millis` or longer."""

    async def idle_times() -> list[int]:
        pending = await queue.client.xpending_range(
            queue.keys.jobs(MODEL), "workers", "-", "+", 100
        )
        return [int(p["time_since_delivered"]) for p in pending]

    await poll_until_async(
        idle_times,
        f"messages idle for {millis} ms",
        timeout=timeout,
        accept=lambda idle: all(ms >= millis for ms in idle),
        interval=0.005,
    )


def messages(n: int) -> list[JobMessage]:
    return [JobMessage(job_id=f"job-{i}", model=MODEL) for i in range(n)]


async def submit(store: SqlJobStore, n: int, max_attempts: int = 3) -> list[str]:
    new = [
        NewJob(new_job_id(), "t", MODEL, "1", {"series": [1.0]}, max_attempts=max_attempts)
        for _ in range(n)
    ]
    return [job.id for job, _ in admitted(await store.create_jobs(new))]


async def test_each_message_goes_to_one_consumer_until_acked(queue: RedisStreamQueue) -> None:
    await queue.enqueue(messages(10))
    first = await queue.read(MODEL, "c1", 6, 0.1)
    second = await queue.read(MODEL, "c2", 10, 0.1)
    assert len(first) == 6 and len(second) == 4
    assert {d.job_id for d in first} | {d.job_id for d in second} == {f"job-{i}" for i in range(10)}
    assert await queue.read(MODEL, "c3", 10, 0.05) == []
    assert await queue.missing(messages(10)) == []
    await queue.ack(first)
    missing = await queue.missing(messages(10))
    assert {m.job_id for m in missing} == {d.job_id for d in first}
    # acked messages are deleted: the stream only holds what is not done
    assert await queue.client.xlen(queue.keys.jobs(MODEL)) == 4


async def test_messages_of_a_dead_consumer_are_reclaimed_with_counts(
    queue: RedisStreamQueue,
) -> None:
    await queue.enqueue(messages(3))
    held = await queue.read(MODEL, "dead", 3, 0.1)
    assert await queue.reclaim(MODEL, "alive", 60, 10) == []  # not idle long enough
    taken = await queue.reclaim(MODEL, "alive", 0, 10)
    assert {d.message_id for d in taken} == {d.message_id for d in held}
    assert all(d.deliveries == 2 for d in taken)
    again = await queue.reclaim(MODEL, "other", 0, 10)
    assert all(d.deliveries == 3 for d in again)


async def test_touch_keeps_messages_with_a_live_consumer(queue: RedisStreamQueue) -> None:
    await queue.enqueue(messages(2))
    held = await queue.read(MODEL, "slow", 2, 0.1)
    await wait_until_idle(queue, 30)
    await queue.touch(MODEL, "slow", [d.message_id for d in held])
    assert await queue.reclaim(MODEL, "thief", 25, 10) == []


async def test_reading_recreates_a_lost_group(queue: RedisStreamQueue) -> None:
    await queue.enqueue(messages(1))
    await queue.client.delete(queue.keys.jobs(MODEL))  # what an empty restart looks like
    assert await queue.read(MODEL, "c1", 10, 0.05) == []
    await queue.enqueue(messages(2))
    assert len(await queue.read(MODEL, "c1", 10, 0.1)) == 2


async def test_idle_consumers_without_messages_are_forgotten(queue: RedisStreamQueue) -> None:
    await queue.enqueue(messages(2))
    await queue.read(MODEL, "holder", 1, 0.1)
    await queue.ack(await queue.read(MODEL, "finished", 1, 0.1))
    assert await queue.forget_consumers(MODEL, 0) == 1
    consumers = await queue.client.xinfo_consumers(queue.keys.jobs(MODEL), "workers")
    assert [c["name"] for c in consumers] == ["holder"]


async def test_source_claims_in_the_store_and_acks_after_settle(
    queue: RedisStreamQueue, store: SqlJobStore
) -> None:
    ids = await submit(store, 3)
    await queue.enqueue([JobMessage(job_id=i, model=MODEL) for i in [*ids, ids[0], "gone"]])
    source = QueueJobSource(store, queue, "w1", 30, block_seconds=0.1)
    claimed = await source.claim(MODEL, 10)
    assert sorted(j.id for j in claimed) == sorted(ids)
    assert all(j.status is JobStatus.RUNNING for j in claimed)
    # the duplicate and the unknown id were acked at once; the three claimed are held
    assert await queue.client.xlen(queue.keys.jobs(MODEL)) == 3
    await store.complete_jobs(
        [Outcome(j.id, 1, OutcomeKind.SUCCEEDED, result={}) for j in claimed], RetryPolicy()
    )
    await source.settle(ids)
    assert await queue.client.xlen(queue.keys.jobs(MODEL)) == 0


async def test_poison_message_makes_its_job_dead(
    queue: RedisStreamQueue, store: SqlJobStore
) -> None:
    [job_id] = await submit(store, 1, max_attempts=2)
    await queue.enqueue([JobMessage(job_id=job_id, model=MODEL)])
    for crashed in ("c1", "c2"):  # consumers that died before claiming the job
        await queue.reclaim(MODEL, crashed, 0, 10) or await queue.read(MODEL, crashed, 1, 0.1)
    source = QueueJobSource(store, queue, "w1", 30, block_seconds=0.05, reclaim_idle_seconds=0)
    assert await source.claim(MODEL, 10) == []  # nothing new; the message is held by c2
    assert await source.maintain() == 1  # third delivery: over max_attempts (2)
    assert await source.claim(MODEL, 10) == []
    job = await store.get_job("t", job_id)
    assert job is not None and job.status is JobStatus.DEAD
    assert "poison" in (job.error or "")
    assert await queue.client.xlen(queue.keys.jobs(MODEL)) == 0


async def test_dispatcher_enqueues_runnable_jobs_and_sweeps_missing_ones(
    queue: RedisStreamQueue, store: SqlJobStore
) -> None:
    ids = await submit(store, 4)
    dispatcher = QueueDispatcher(store, queue, sweep_seconds=0.0)
    events = await store.unpublished_events(100)
    await dispatcher.dispatch(events[:2])  # the relay got two events out before a crash
    assert dispatcher.dispatched == 2
    assert await dispatcher.sweep_once() == 2  # the sweep finds the other two
    assert await dispatcher.sweep_once() == 0
    delivered = await queue.read(MODEL, "c1", 10, 0.1)
    assert sorted(d.job_id for d in delivered) == sorted(ids)


async def test_adopted_jobs_are_claimed_before_the_backlog(
    queue: RedisStreamQueue, store: SqlJobStore
) -> None:
    backlog = await submit(store, 5)
    await queue.enqueue([JobMessage(job_id=i, model=MODEL) for i in backlog])
    lost = await submit(store, 3)
    source = QueueJobSource(store, queue, "w1", 30, block_seconds=0.05)
    source.adopt(await store.claim_jobs_by_id(lost, "dead-worker", 30))
    await store.release_jobs("dead-worker", lost)  # runnable again, as after a lease lapsed
    first = await source.claim(MODEL, 2)
    second = await source.claim(MODEL, 2)
    assert {j.id for j in first + second} >= set(lost)  # ahead of the five in the stream
    assert len(first) == 2
