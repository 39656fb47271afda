"""What every cross-process event bus promises, run against each real broker: Redis Streams
and a Kafka-protocol broker (Tansu). Broker-specific behaviour (stream capping, record
keys, the outbox's acknowledgements) stays in test_redis_events.py and test_kafka_events.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import pytest

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.events import KafkaEventBus
from inferline.adapters.redis.events import RedisStreamEventBus
from inferline.domain.jobs import JobEvent
from inferline.testing.databases import redis_url
from inferline.testing.polling import poll_until_async
from inferline.testing.services import PrivateKafka
from tests.support.events import job_event


class CrossProcessBus(Protocol):
    @property
    def reading(self) -> bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, events: list[JobEvent]) -> None: ...

    def subscribe(self) -> AsyncIterator[JobEvent]: ...


@pytest.fixture(params=["redis", "kafka"])
def new_bus(request: pytest.FixtureRequest) -> Callable[[], CrossProcessBus]:
    """Makes one process's bus on the broker (each test has its own key or topic prefix)."""
    if request.param == "redis":
        prefix: str = request.getfixturevalue("redis_prefix")
        return lambda: RedisStreamEventBus(redis_url(), prefix, max_length=100, block_seconds=0.1)
    kafka: PrivateKafka = request.getfixturevalue("kafka_broker")
    topics: str = request.getfixturevalue("kafka_prefix")
    return lambda: KafkaEventBus(KafkaConfig(kafka.address, topic_prefix=topics, partitions=3))


@pytest.fixture
async def buses(
    new_bus: Callable[[], CrossProcessBus],
) -> AsyncIterator[list[CrossProcessBus]]:
    """Three processes' buses on one broker: a publisher and two API processes."""
    buses = [new_bus() for _ in range(3)]
    for bus in buses:
        await bus.start()
    yield buses
    for bus in buses:
        await bus.close()


async def collect(subscription: AsyncIterator[JobEvent], n: int) -> list[JobEvent]:
    received: list[JobEvent] = []
    async with asyncio.timeout(20):
        async for item in subscription:
            received.append(item)
            if len(received) == n:
                break
    return received


async def wait_for_reader(bus: CrossProcessBus) -> None:
    """A bus reads from "now" once positioned; events published before that are not its."""
    await poll_until_async(lambda: bus.reading, "the reader is positioned", timeout=10)


async def test_every_subscriber_of_every_process_gets_every_event_in_order(
    buses: list[CrossProcessBus],
) -> None:
    publisher, api_a, api_b = buses
    subscriptions = [api_a.subscribe(), api_a.subscribe(), api_b.subscribe()]
    tasks = [asyncio.create_task(collect(s, 5)) for s in subscriptions]
    await wait_for_reader(api_a)
    await wait_for_reader(api_b)
    sent = [job_event(seq) for seq in range(1, 6)]
    await publisher.publish(sent[:2])
    await publisher.publish(sent[2:])
    for received in await asyncio.gather(*tasks):
        assert received == sent
