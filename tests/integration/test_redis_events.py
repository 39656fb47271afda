"""The Redis Stream event bus: events published by one process reach every subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from inferline.adapters.redis.events import RedisStreamEventBus
from inferline.domain.jobs import JobEvent, JobStatus
from inferline.testing.databases import redis_url
from inferline.testing.polling import poll_until_async


def event(seq: int, job_id: str = "j1") -> JobEvent:
    return JobEvent(
        seq=seq,
        job_id=job_id,
        tenant="t",
        model="m",
        type="job.succeeded",
        status=JobStatus.SUCCEEDED,
        at=1_700_000_000.123456,
        job={"id": job_id, "result": {"forecast": 1.5, "text": "é"}},
    )


@pytest.fixture
async def buses(redis_prefix: str) -> AsyncIterator[list[RedisStreamEventBus]]:
    buses = [
        RedisStreamEventBus(redis_url(), redis_prefix, max_length=100, block_seconds=0.1)
        for _ in range(3)
    ]
    for bus in buses:
        await bus.start()
    yield buses
    for bus in buses:
        await bus.close()


async def collect(subscription: AsyncIterator[JobEvent], n: int) -> list[JobEvent]:
    received: list[JobEvent] = []
    async with asyncio.timeout(10):
        async for item in subscription:
            received.append(item)
            if len(received) == n:
                break
    return received


async def wait_for_reader(bus: RedisStreamEventBus) -> None:
    """The reader pins its start position on its first read; wait for that."""
    await poll_until_async(lambda: bus.last_id != "$", "the reader pinned its start", timeout=10)


async def test_every_subscriber_of_every_process_gets_every_event_in_order(
    buses: list[RedisStreamEventBus],
) -> None:
    publisher, api_a, api_b = buses
    subscriptions = [api_a.subscribe(), api_a.subscribe(), api_b.subscribe()]
    tasks = [asyncio.create_task(collect(s, 5)) for s in subscriptions]
    await wait_for_reader(api_a)
    await wait_for_reader(api_b)
    sent = [event(seq) for seq in range(1, 6)]
    await publisher.publish(sent[:2])
    await publisher.publish(sent[2:])
    for received in await asyncio.gather(*tasks):
        assert received == sent


async def test_the_stream_is_capped(buses: list[RedisStreamEventBus]) -> None:
    publisher = buses[0]
    for start in range(0, 1000, 250):
        await publisher.publish([event(seq) for seq in range(start, start + 250)])
    length = await publisher.client.xlen(publisher.stream)
    assert 100 <= length < 1000
