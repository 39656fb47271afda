"""The Kafka event bus beyond the shared contract (test_event_bus_contract.py): records keyed by
job, and the outbox keeps events until the broker acknowledged them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.events import EVENT_CODEC, KafkaEventBus
from inferline.adapters.kafka.producer import SendFailed
from inferline.adapters.sql.store import SqlJobStore
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import NewJob
from inferline.runtime.relay import OutboxRelay
from inferline.testing.kafka import read_topic
from inferline.testing.polling import NotReady, poll_until_async
from inferline.testing.server import sqlite_url
from inferline.testing.services import PrivateKafka
from tests.support.events import job_event


def config_for(broker: PrivateKafka, prefix: str, **client: str) -> KafkaConfig:
    return KafkaConfig(broker.address, topic_prefix=prefix, partitions=3, client=client)


@pytest.fixture
async def buses(
    kafka_broker: PrivateKafka, kafka_prefix: str
) -> AsyncIterator[list[KafkaEventBus]]:
    buses = [KafkaEventBus(config_for(kafka_broker, kafka_prefix)) for _ in range(3)]
    for bus in buses:
        await bus.start()
    yield buses
    for bus in buses:
        await bus.close()


async def test_events_are_keyed_by_job_with_the_redis_streams_json(
    buses: list[KafkaEventBus],
) -> None:
    publisher = buses[0]
    sent = [job_event(seq, job_id=f"job-{seq % 7}") for seq in range(250)]
    await publisher.publish(sent)
    records = await asyncio.to_thread(
        read_topic, publisher.config, publisher.topic, until=lambda found: len(found) >= 250
    )
    assert len(records) == 250
    assert {value: key for key, value in records} == {
        EVENT_CODEC.dump_json(e): e.job_id for e in sent
    }
    per_job: dict[str, list[int]] = {}
    for _key, value in records:  # one partition per job: its events in publish order
        decoded = EVENT_CODEC.validate_json(value)
        per_job.setdefault(decoded.job_id, []).append(decoded.seq)
    assert all(seqs == sorted(seqs) for seqs in per_job.values())


async def test_the_outbox_keeps_events_until_the_broker_acknowledges_them(
    tmp_path: Path, kafka_prefix: str
) -> None:
    try:
        broker = PrivateKafka(tmp_path).start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    store = SqlJobStore(sqlite_url(tmp_path / "jobs.db"))
    await store.start()
    bus = KafkaEventBus(config_for(broker, kafka_prefix, **{"message.timeout.ms": "1500"}))
    try:
        await bus.start()
        relay = OutboxRelay(store, bus)
        await store.create_jobs([NewJob(new_job_id(), "t", "m", "1", {}) for _ in range(3)])
        assert await relay.relay_once() == 3
        broker.stop()
        await store.create_jobs([NewJob(new_job_id(), "t", "m", "1", {}) for _ in range(2)])
        with pytest.raises(SendFailed, match="not acknowledged"):
            await relay.relay_once()
        assert len(await store.unpublished_events(100)) == 2  # still in the outbox
        broker.start()

        async def relay_once_the_broker_is_back() -> int:
            try:
                return await relay.relay_once()
            except Exception as exc:  # the restarted broker does not take writes yet
                raise NotReady(f"relaying failed: {exc}") from exc

        sent: int = await poll_until_async(
            relay_once_the_broker_is_back,
            "the restarted broker took the events",
            timeout=30,
            accept=lambda _: True,
        )
        assert sent == 2
        assert await store.unpublished_events(100) == []
        values = await asyncio.to_thread(
            read_topic, bus.config, bus.topic, until=lambda found: len(found) >= 2
        )
        assert len(values) == 2  # the restarted (empty) broker holds the two sent after it
    finally:
        await bus.close()
        await store.close()
        broker.stop()
