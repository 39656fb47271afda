"""Stream routes on Kafka: an input topic read by a consumer group, records out to topics.

The group of a route is `<prefix>inferline.streams.<topic>.<model>`, so every
`inferline consume` process of one route shares the topic's partitions, and two
routes of one topic each see every record. Offsets are committed per partition up to
the lowest record not yet processed (see `offsets.py`).
"""

from __future__ import annotations

import asyncio

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.consumer import GroupConsumer
from inferline.adapters.kafka.producer import KafkaSender, Record
from inferline.adapters.kafka.topics import TopicAdmin
from inferline.ports.streams import OutRecord, StreamRecord


class KafkaStreamSource:
    """StreamSource on one Kafka topic, as a member of the route's consumer group."""

    def __init__(self, config: KafkaConfig, topic: str, model: str, *, name: str) -> None:
        self.config = config
        self.topic = topic
        self.admin = TopicAdmin(config)
        self._member = GroupConsumer(
            config,
            self.admin,
            config.topic(f"inferline.streams.{topic}.{model}"),
            [config.topic(topic)],
            name=f"{name}/{topic}",
        )

    async def start(self) -> None:
        await asyncio.to_thread(self.admin.ping_sync)
        self._member.start()

    async def close(self) -> None:
        await self._member.close()

    async def read(self, count: int, block_seconds: float) -> list[StreamRecord]:
        return [
            StreamRecord(
                self.topic,
                r.partition,
                str(r.offset),
                r.key.decode(errors="replace") if r.key is not None else None,
                r.value,
            )
            for r in await self._member.read(count, block_seconds)
        ]

    async def commit(self, records: list[StreamRecord]) -> None:
        for record in records:
            self._member.done(self.config.topic(self.topic), record.partition, int(record.position))

    async def lag(self) -> dict[int, int]:
        return {partition: lag for (_topic, partition), lag in self._member.lag().items()}


class KafkaStreamSink:
    """StreamSink producing to Kafka topics (prefixed), idempotently, acknowledged."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self.admin = TopicAdmin(config)
        self.sender = KafkaSender(config, self.admin, "streams")

    async def start(self) -> None:
        await asyncio.to_thread(self.admin.ping_sync)

    async def close(self) -> None:
        await self.sender.close()

    async def send(self, records: list[OutRecord]) -> None:
        await self.sender.send(
            [Record(self.config.topic(r.topic), r.key, r.value) for r in records]
        )
