"""Reading a Kafka topic back from its start, as any consumer would (tests, benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.topics import TopicAdmin

Record = tuple[str | None, bytes]  # (key, value)


def read_topic(
    config: KafkaConfig,
    topic: str,
    *,
    until: Callable[[list[Record]], bool],
    timeout: float = 30.0,
    settle_seconds: float = 0.5,
) -> list[Record]:
    """Every record of `topic` from offset 0, read until `until(records)` holds (then
    `settle_seconds` more, so that records past it, such as duplicates, show up too)."""
    partitions = TopicAdmin(config).partitions_sync(topic)
    consumer = Consumer(config.tail_consumer())
    records: list[Record] = []
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        deadline = time.monotonic() + timeout
        settled_at: float | None = None
        while settled_at is None or time.monotonic() < settled_at:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: condition not met after {timeout}s")
            for message in consumer.consume(1000, 0.1):
                key, value = message.key(), message.value()
                if message.error() is None and isinstance(value, bytes):
                    records.append((key.decode() if isinstance(key, bytes) else key, value))
            if settled_at is None and until(records):
                settled_at = time.monotonic() + settle_seconds
        return records
    finally:
        consumer.close()
