"""The Kafka job queue and the worker's queue source, on a real Kafka-protocol broker (Tansu)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.producer import Record
from inferline.adapters.kafka.queue import KafkaJobQueue, OffsetsReader, jobs_topic, workers_group
from inferline.adapters.sql.store import SqlJobStore
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import NewJob, Outcome, OutcomeKind, RetryPolicy
from inferline.ports.queue import Delivery, JobMessage
from inferline.runtime.dispatch import QueueDispatcher
from inferline.testing.polling import NotReady, poll_until_async
from inferline.testing.server import sqlite_url
from inferline.testing.services import PrivateKafka
from inferline.worker.sources import QueueJobSource
from tests.support.jobs import admitted

MODEL = "moving-average"


def config_for(broker: PrivateKafka, prefix: str, partitions: int = 4) -> KafkaConfig:
    return KafkaConfig.from_url(
        broker.url, topic_prefix=prefix, partitions=partitions, session_timeout_ms=6000
    )


@pytest.fixture
async def queue(kafka_broker: PrivateKafka, kafka_prefix: str) -> AsyncIterator[KafkaJobQueue]:
    queue = KafkaJobQueue(config_for(kafka_broker, kafka_prefix))
    await queue.start()
    yield queue
    await queue.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlJobStore]:
    store = SqlJobStore(sqlite_url(tmp_path / "jobs.db"))
    await store.start()
    yield store
    await store.close()


def messages(n: int, start: int = 0) -> list[JobMessage]:
    return [JobMessage(job_id=f"job-{i}", model=MODEL) for i in range(start, start + n)]


async def read_until(
    queue: KafkaJobQueue, consumer: str, n: int, timeout: float = 20.0
) -> list[Delivery]:
    """Read until `n` deliveries came (the first read waits for the group to form)."""
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{consumer} got {len(got)} of {n} messages in {timeout}s")
        got += await queue.read(MODEL, consumer, n - len(got), 0.5)
    return got


async def committed(queue: KafkaJobQueue) -> dict[int, int]:
    reader = OffsetsReader(queue.config)
    try:
        topic, group = jobs_topic(queue.config, MODEL), workers_group(queue.config, MODEL)
        return (await asyncio.to_thread(reader.positions, topic, group)).committed
    finally:
        reader.close()


async def wait_committed(queue: KafkaJobQueue, expected: dict[int, int]) -> None:
    await poll_until_async(
        lambda: committed(queue),
        f"committed offsets {expected}",
        timeout=10,
        accept=lambda found: found == expected,
    )


async def test_ids_spread_over_partitions_and_each_goes_to_one_member(
    queue: KafkaJobQueue,
) -> None:
    await queue.enqueue(messages(200))
    placed = queue.dispatched._topics[jobs_topic(queue.config, MODEL)].by_job.values()
    assert {partition for partition, _offset in placed} == {0, 1, 2, 3}
    first = await read_until(queue, "c1", 200)
    assert sorted(d.job_id for d in first) == sorted(m.job_id for m in messages(200))
    assert await queue.read(MODEL, "c1", 10, 0.2) == []
    assert await queue.missing(messages(200)) == []  # read but not done: still waiting


async def test_offsets_are_committed_only_up_to_the_lowest_unfinished_record(
    kafka_broker: PrivateKafka, kafka_prefix: str
) -> None:
    """A member that stops after finishing records 0-2 and 4-5 of 0-9 hands on 3-9."""
    queue = KafkaJobQueue(config_for(kafka_broker, kafka_prefix, partitions=1))
    try:
        await queue.enqueue(messages(10))
        held = await read_until(queue, "first", 10)
        assert [d.message_id for d in held] == [f"0:{i}" for i in range(10)]
        await queue.ack([held[i] for i in (0, 1, 2, 4, 5)])
        await wait_committed(queue, {0: 3})
        assert {m.job_id for m in await queue.missing(messages(10))} == {
            f"job-{i}" for i in (0, 1, 2)
        }
    finally:
        await queue.close()  # the member dies with records 3 and 6-9 unfinished
    successor = KafkaJobQueue(config_for(kafka_broker, kafka_prefix, partitions=1))
    try:
        again = await read_until(successor, "second", 7)
        assert [d.job_id for d in again] == [f"job-{i}" for i in (3, 4, 5, 6, 7, 8, 9)]
        await successor.ack(again)
        await wait_committed(successor, {0: 10})
    finally:
        await successor.close()


async def test_source_claims_in_the_store_and_commits_after_settle(
    queue: KafkaJobQueue, store: SqlJobStore
) -> None:
    ids = await submit(store, 3)
    await queue.enqueue([JobMessage(job_id=i, model=MODEL) for i in [*ids, ids[0], "gone"]])
    source = QueueJobSource(store, queue, "w1", 30, block_seconds=0.5)
    claimed: list[str] = []
    deadline = time.monotonic() + 20
    while len(claimed) < 3 and time.monotonic() < deadline:
        claimed += [j.id for j in await source.claim(MODEL, 10)]
    assert sorted(claimed) == sorted(ids)
    # the duplicate and the unknown id were done at once; the three claimed are held
    assert {m.job_id for m in await queue.missing(messages(0))} == set()
    waiting = await queue.missing([JobMessage(job_id=i, model=MODEL) for i in ids])
    assert waiting == []
    await store.complete_jobs(
        [Outcome(i, 1, OutcomeKind.SUCCEEDED, result={}) for i in ids], RetryPolicy()
    )
    await source.settle(ids)
    await wait_until_missing(queue, ids)


async def wait_until_missing(queue: KafkaJobQueue, ids: list[str]) -> None:
    """Every id's record committed past: the sweep would see them as missing."""
    wanted = [JobMessage(job_id=i, model=MODEL) for i in ids]
    await poll_until_async(
        lambda: queue.missing(wanted),
        "records committed past",
        timeout=10,
        accept=lambda missing: len(missing) >= len(ids),
    )


async def submit(store: SqlJobStore, n: int) -> list[str]:
    new = [NewJob(new_job_id(), "t", MODEL, "1", {"series": [1.0]}) for _ in range(n)]
    return [job.id for job, _ in admitted(await store.create_jobs(new))]


async def test_dispatcher_enqueues_runnable_jobs_and_sweeps_missing_ones(
    queue: KafkaJobQueue, store: SqlJobStore
) -> None:
    ids = await submit(store, 4)
    dispatcher = QueueDispatcher(store, queue, sweep_seconds=0.0)
    events = await store.unpublished_events(100)
    await dispatcher.dispatch(events[:2])  # the relay got two events out before a crash
    assert await dispatcher.sweep_once() == 2  # the sweep finds the other two
    assert await dispatcher.sweep_once() == 0
    delivered = await read_until(queue, "c1", 4)
    assert sorted(d.job_id for d in delivered) == sorted(ids)


@pytest.mark.timeout(240)
async def test_a_broker_that_lost_its_data_is_caught_up_by_the_sweep(
    tmp_path: Path, kafka_prefix: str, store: SqlJobStore
) -> None:
    """Jobs dispatched to a broker that restarts empty are dispatched again by the sweep,
    and a worker's member that was connected before the restart receives them."""
    try:
        broker = PrivateKafka(tmp_path).start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    queue = KafkaJobQueue(config_for(broker, kafka_prefix))
    try:
        dispatcher = QueueDispatcher(store, queue, sweep_seconds=0.0)
        first = await submit(store, 3)
        await dispatcher.dispatch(await store.unpublished_events(100))
        assert sorted(d.job_id for d in await read_until(queue, "w1", 3)) == sorted(first)
        assert await dispatcher.sweep_once() == 0  # read, not done: still waiting
        broker.restart()  # every topic, record and committed offset is gone
        later = await submit(store, 2)  # jobs whose first dispatch is also lost

        async def redispatched() -> int:
            try:
                await dispatcher.sweep_once()
            except Exception as exc:  # refused while the broker restarts
                raise NotReady(f"sweep failed: {exc}") from exc
            return dispatcher.redispatched

        # the broker answers again after a moment
        await poll_until_async(
            redispatched, "all five redispatched", timeout=30, accept=lambda n: n >= 5
        )
        again = await read_until(queue, "w1", 5, timeout=90)  # a stuck member rejoins by 36 s
        assert {d.job_id for d in again} == {*first, *later}
    finally:
        await queue.close()
        broker.stop()


async def test_malformed_records_are_skipped(queue: KafkaJobQueue) -> None:
    topic = jobs_topic(queue.config, MODEL)
    await queue.sender.send([Record(topic, "x", b"not json")])
    await queue.enqueue(messages(1))
    delivered = await read_until(queue, "c1", 1)
    assert [d.job_id for d in delivered] == ["job-0"]
