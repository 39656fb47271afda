"""The event bus on Kafka: topic `<prefix>inference_results` (source S2's name).

The relay produces every job event (key = job id, so a job's events stay in order in
one partition; value = the same JSON as on the Redis stream) with the idempotent
producer and returns only when the broker acknowledged all of them; the outbox marks
them published only then. Every API process tails the topic from its end (assigned
partitions, no consumer group, nothing committed) on a thread of its own and fans the
events out to its WebSocket subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from pydantic import TypeAdapter

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.producer import KafkaSender, Record
from inferline.adapters.kafka.topics import TopicAdmin
from inferline.adapters.memory.events import InProcessEventBus
from inferline.domain.jobs import JobEvent

log = logging.getLogger(__name__)

Callback = Callable[[list[bytes]], Coroutine[Any, Any, None]]

EVENT_CODEC: TypeAdapter[JobEvent] = TypeAdapter(JobEvent)
EVENTS_TOPIC = "inference_results"
PUBLISH_BATCH = 100  # events per produce call (source S3's outbox batches)
POLL_SECONDS = 0.2
PARTITIONS_EVERY_SECONDS = 10.0


class KafkaEventBus:
    """EventBus on one Kafka topic, read by every API process from its end."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self.topic = config.topic(EVENTS_TOPIC)
        self.admin = TopicAdmin(config)
        self.sender = KafkaSender(config, self.admin, "events")
        self._local = InProcessEventBus()
        self._tail: TopicTail | None = None

    async def start(self) -> None:
        await self.admin.ensure([self.topic])

    async def ping(self) -> None:
        """Raise unless the broker answers."""
        await asyncio.to_thread(self.admin.ping_sync)

    async def close(self) -> None:
        if self._tail is not None:
            await self._tail.close()
            self._tail = None
        await self._local.close()
        await self.sender.close()

    async def publish(self, events: list[JobEvent]) -> None:
        for start in range(0, len(events), PUBLISH_BATCH):
            await self.sender.send(
                [
                    Record(self.topic, event.job_id, EVENT_CODEC.dump_json(event))
                    for event in events[start : start + PUBLISH_BATCH]
                ]
            )

    def subscribe(self) -> AsyncIterator[JobEvent]:
        if self._tail is None:
            self._tail = TopicTail(self.config, self.admin, self.topic, self._deliver)
            self._tail.start()
        return self._local.subscribe()

    @property
    def reading(self) -> bool:
        """True once the reader is positioned at the topic's end (tests wait for it)."""
        return self._tail is not None and self._tail.positioned.is_set()

    async def _deliver(self, values: list[bytes]) -> None:
        events = []
        for value in values:
            try:
                events.append(EVENT_CODEC.validate_json(value))
            except ValueError as exc:
                log.warning("skipping a malformed event on %s: %s", self.topic, exc)
        await self._local.publish(events)


class TopicTail:
    """Reads every partition of a topic from where it ends now on, on its own thread."""

    def __init__(
        self,
        config: KafkaConfig,
        admin: TopicAdmin,
        topic: str,
        deliver: Callback,
    ) -> None:
        self.config = config
        self.admin = admin
        self.topic = topic
        self.deliver = deliver
        self.positioned = threading.Event()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="kafka-events-tail", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)
            self._thread = None

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            try:
                self._tail()
            except Exception as exc:
                log.warning("reading %s failed (%s); retrying in %.1fs", self.topic, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _tail(self) -> None:
        self.admin.ensure_sync([self.topic])
        consumer = Consumer(self.config.tail_consumer())
        try:
            assigned: set[int] = set()
            since_check = PARTITIONS_EVERY_SECONDS
            while not self._stop.is_set():
                if since_check >= PARTITIONS_EVERY_SECONDS:
                    since_check = 0.0
                    assigned |= self._assign_new(consumer, assigned)
                    self.positioned.set()
                messages = consumer.consume(500, POLL_SECONDS)
                since_check += POLL_SECONDS
                values: list[bytes] = []
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                            raise ConnectionError(f"topic {self.topic} vanished")
                        continue
                    value = message.value()
                    if isinstance(value, bytes):
                        values.append(value)
                if values and self._loop is not None:
                    asyncio.run_coroutine_threadsafe(self.deliver(values), self._loop).result(30)
        finally:
            consumer.close()

    def _assign_new(self, consumer: Consumer, assigned: set[int]) -> set[int]:
        """Assign partitions not yet read, each from its current end."""
        new = [p for p in self.admin.partitions_sync(self.topic) if p not in assigned]
        if new:
            starts = []
            for partition in new:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), timeout=10
                )
                starts.append(TopicPartition(self.topic, partition, high))
            consumer.incremental_assign(starts)
        return set(new)
