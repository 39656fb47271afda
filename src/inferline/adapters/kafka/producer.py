"""An idempotent producer used from asyncio: sends records and waits for the broker's acks.

librdkafka is synchronous: every call here runs on one thread of its own, so the event
loop never blocks and the producer is never used by two threads at once. A send that
fails (timeout, fatal idempotence error, a broker that came back empty) discards the
producer; the next send starts a fresh one, as a restarted broker needs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.topics import TopicAdmin

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 20.0


class SendFailed(RuntimeError):
    """The broker did not acknowledge every record of a send."""


@dataclass(frozen=True, slots=True)
class Record:
    """One record to produce."""

    topic: str
    key: str | None
    value: bytes


@dataclass(frozen=True, slots=True)
class Placed:
    """Where an acknowledged record was written."""

    topic: str
    partition: int
    offset: int


Report = Callable[[KafkaError | None, Message], None]


def _reporter(placed: list[Placed | KafkaError | None], index: int) -> Report:
    """A delivery callback that writes the outcome of record `index` into `placed`."""

    def report(error: KafkaError | None, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if error is None and topic is not None and partition is not None and offset is not None:
            placed[index] = Placed(topic, partition, offset)
        else:
            placed[index] = error or KafkaError(KafkaError._FAIL)

    return report


class KafkaSender:
    """Produces batches of records and returns once every one of them is acknowledged."""

    def __init__(self, config: KafkaConfig, admin: TopicAdmin, name: str) -> None:
        self.config = config
        self.admin = admin
        self._producer: Producer | None = None
        self._broker_lost = threading.Event()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kafka-{name}")

    async def send(self, records: list[Record]) -> list[Placed]:
        """Produce `records` (topics created when missing); their positions, in order."""
        if not records:
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._send_sync, records)

    def _send_sync(self, records: list[Record]) -> list[Placed]:
        if self._producer is not None:
            self._producer.poll(0)  # serve queued error callbacks
        if self._broker_lost.is_set():  # its idempotence state is void on a restarted broker
            self._discard()
        self.admin.ensure_sync([r.topic for r in records])
        if self._producer is None:
            self._broker_lost.clear()
            self._producer = Producer({**self.config.producer(), "error_cb": self._on_error})
        producer = self._producer
        placed: list[Placed | KafkaError | None] = [None] * len(records)
        try:
            for index, record in enumerate(records):
                self._produce(producer, record, _reporter(placed, index))
            unsent = producer.flush(SEND_TIMEOUT_SECONDS)
        except Exception:
            self._discard()
            raise
        failures = [p for p in placed if not isinstance(p, Placed)]
        if unsent or failures:
            self._discard()
            self.admin.forget()
            first = next((f for f in failures if f is not None), None)
            raise SendFailed(
                f"{len(failures) or unsent} of {len(records)} records not acknowledged"
                + (f": {first}" if first is not None else "")
            )
        return [p for p in placed if isinstance(p, Placed)]

    @staticmethod
    def _produce(producer: Producer, record: Record, report: Report) -> None:
        while True:
            try:
                producer.produce(
                    record.topic, key=record.key, value=record.value, on_delivery=report
                )
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN or error.fatal():
            self._broker_lost.set()

    def _discard(self) -> None:
        if self._producer is not None:
            self._producer.purge()
            self._producer.flush(0)
            self._producer = None
            log.warning("Kafka producer discarded (broker lost or send failed); starting anew")

    def ping_sync(self) -> None:
        self.admin.ping_sync()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._close_sync)
        self._thread.shutdown(wait=True)

    def _close_sync(self) -> None:
        if self._producer is not None:
            self._producer.flush(5.0)
            self._producer = None
