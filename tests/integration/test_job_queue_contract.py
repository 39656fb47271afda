"""What every consumer-group job queue does, on the in-process queue and on Redis Streams.

The in-process queue is the one the unit tests' workers read, so it must behave as
the Redis one does wherever `QueueJobSource` relies on it. (Kafka's queue reclaims by
rebalancing instead: its own tests are in test_kafka_queue.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferline.adapters.memory.queue import InProcessJobQueue
from inferline.adapters.redis.queue import RedisStreamQueue
from inferline.ports.queue import JobMessage, JobQueue
from inferline.testing import databases as dbs
from tests.support.requirements import require_server

MODEL = "moving-average"


@pytest.fixture(params=["memory", "redis"])
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[JobQueue]:
    if request.param == "memory":
        yield InProcessJobQueue()
        return
    require_server(dbs.REDIS)
    prefix = dbs.unique_name("inferline-test")  # this test's keys, deleted afterwards
    redis = RedisStreamQueue(dbs.redis_url(), prefix)
    await redis.start()
    yield redis
    await redis.close()
    await dbs.delete_redis_prefix(prefix)


def messages(*numbers: int) -> list[JobMessage]:
    return [JobMessage(job_id=f"job-{i}", model=MODEL) for i in numbers]


async def test_a_message_goes_to_one_consumer_and_is_gone_once_acked(queue: JobQueue) -> None:
    await queue.enqueue(messages(*range(5)))
    first = await queue.read(MODEL, "c1", 3, 0.1)
    second = await queue.read(MODEL, "c2", 10, 0.1)
    assert [d.job_id for d in first + second] == [f"job-{i}" for i in range(5)]
    assert all(d.deliveries == 1 and d.model == MODEL for d in first + second)
    assert await queue.read(MODEL, "c3", 10, 0.05) == []
    assert await queue.missing(messages(0, 1, 9)) == messages(9)
    await queue.ack(first)
    assert await queue.missing(messages(*range(5))) == messages(0, 1, 2)
    assert [d.job_id for d in await queue.reclaim(MODEL, "c3", 0, 10)] == ["job-3", "job-4"]


async def test_held_messages_are_taken_over_only_when_idle_with_growing_counts(
    queue: JobQueue,
) -> None:
    await queue.enqueue(messages(1, 2))
    held = await queue.read(MODEL, "dead", 2, 0.1)
    assert await queue.reclaim(MODEL, "alive", 60, 10) == []  # not idle long enough
    taken = await queue.reclaim(MODEL, "alive", 0, 10)
    assert [d.message_id for d in taken] == [d.message_id for d in held]
    assert [d.deliveries for d in taken] == [2, 2]
    assert [d.deliveries for d in await queue.reclaim(MODEL, "other", 0, 1)] == [3]


async def test_a_touch_keeps_a_message_with_its_consumer_without_counting(
    queue: JobQueue,
) -> None:
    await queue.enqueue(messages(1))
    [held] = await queue.read(MODEL, "first", 1, 0.1)
    await queue.touch(MODEL, "second", [held.message_id])  # now held by `second`
    assert await queue.forget_consumers(MODEL, 0) == 1  # `first` holds nothing
    [taken] = await queue.reclaim(MODEL, "third", 0, 10)
    assert taken.deliveries == 2  # the read and this reclaim; the touch did not count
    await queue.ack([taken])
    await queue.touch(MODEL, "second", [held.message_id])  # acked: nothing to keep
    assert await queue.reclaim(MODEL, "fourth", 0, 10) == []


async def test_only_idle_consumers_holding_nothing_are_forgotten(queue: JobQueue) -> None:
    await queue.enqueue(messages(1, 2))
    await queue.read(MODEL, "holder", 1, 0.1)
    await queue.ack(await queue.read(MODEL, "finished", 1, 0.1))
    assert await queue.forget_consumers(MODEL, 3600) == 0  # none idle that long
    assert await queue.forget_consumers(MODEL, 0) == 1
    assert await queue.forget_consumers(MODEL, 0) == 0
