"""The Redis Stream event bus beyond the shared contract (test_event_bus_contract.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferline.adapters.redis.events import RedisStreamEventBus
from inferline.testing.databases import redis_url
from tests.support.events import job_event


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


async def test_the_stream_is_capped(buses: list[RedisStreamEventBus]) -> None:
    publisher = buses[0]
    for start in range(0, 1000, 250):
        await publisher.publish([job_event(seq) for seq in range(start, start + 250)])
    length = await publisher.client.xlen(publisher.stream)
    assert 100 <= length < 1000
