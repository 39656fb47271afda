"""A consumer-group member on a thread of its own, read from asyncio.

librdkafka is synchronous, so one thread owns the consumer: it polls, keeps a bounded
buffer of fetched records (pausing its partitions while the buffer is full, so it
keeps polling and stays in the group however slow the application is), commits, and
runs the rebalance callbacks. The event loop only takes records from the buffer and
marks them done; it never blocks on the broker.

Commits follow `PartitionOffsets`: per partition, only up to the lowest offset that
is not done. When partitions are revoked, what is done is committed first and the
records of those partitions still buffered are dropped; the next owner reads
everything from the committed offset on. When the topic vanished (a broker that
restarted empty), it is created again and the same client goes on: librdkafka rejoins
the group (the broker no longer knows its member) and reads the new assignment from the
committed offsets (see `_recreate_topics` for why not a new client). While the broker is
away, or after a fatal client error, the client is closed and a fresh one joins once the
broker answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.offsets import PartitionOffsets
from inferline.adapters.kafka.topics import TopicAdmin

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1
COMMIT_EVERY_SECONDS = 0.05
LAG_EVERY_SECONDS = 1.0
RECONNECT_SECONDS = 1.0
BROKER_LOST = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError.UNKNOWN_TOPIC_OR_PART})

Key = tuple[str, int]  # (topic, partition)


@dataclass(frozen=True, slots=True)
class Received:
    """One record taken from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


class GroupConsumer:
    """Joins `group`, subscribes to `topics`; hands records out, commits what is done."""

    def __init__(
        self,
        config: KafkaConfig,
        admin: TopicAdmin,
        group: str,
        topics: list[str],
        *,
        name: str,
        max_buffered: int = 1000,
    ) -> None:
        self.config = config
        self.admin = admin
        self.group = group
        self.topics = topics
        self.name = name
        self.max_buffered = max_buffered
        self._lock = threading.Lock()
        self._buffer: deque[Received] = deque()
        self._offsets: dict[Key, PartitionOffsets] = {}
        self._lag: dict[Key, int] = {}
        self._paused = False
        self._lost = threading.Event()
        self._fatal = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self.assigned = threading.Event()
        # A coordinator that restarted empty can leave a member waiting for a rebalance
        # that never comes. A rebalance ends within its timeout (the poll interval) plus a
        # session; a member still unassigned after that starts anew (a new member id).
        timings = config.group_consumer(group)
        self._join_seconds = (
            timings["max.poll.interval.ms"] + timings["session.timeout.ms"]
        ) / 1000

    # -- the event loop's side -------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=f"kafka-{self.name}", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)
            self._thread = None

    async def read(self, count: int, block_seconds: float) -> list[Received]:
        """Up to `count` records, waiting up to `block_seconds` for the first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + block_seconds
        while True:
            self._ready.clear()
            taken = self._take(count)
            remaining = deadline - loop.time()
            if taken or remaining <= 0:
                return taken
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), remaining)

    def _take(self, count: int) -> list[Received]:
        taken: list[Received] = []
        with self._lock:
            while self._buffer and len(taken) < count:
                record = self._buffer.popleft()
                offsets = self._offsets.get((record.topic, record.partition))
                if offsets is None:  # revoked after it was fetched
                    continue
                offsets.handed_out(record.offset)
                taken.append(record)
        return taken

    def done(self, topic: str, partition: int, offset: int) -> bool:
        """This record is finished; False when this member does not hold it (any more)."""
        with self._lock:
            offsets = self._offsets.get((topic, partition))
            return offsets is not None and offsets.done(offset)

    def holds(self, topic: str, partition: int, offset: int) -> bool:
        with self._lock:
            offsets = self._offsets.get((topic, partition))
            return offsets is not None and offsets.holds(offset)

    def lag(self) -> dict[Key, int]:
        """Records not yet committed, per assigned partition (as of the last second)."""
        with self._lock:
            return dict(self._lag)

    def _wake(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._ready.set)

    # -- the consumer's thread -------------------------------------------------
    def _run(self) -> None:
        consumer: Consumer | None = None
        last_commit = last_lag = subscribed_at = 0.0
        while not self._stop.is_set():
            try:
                if consumer is None:
                    consumer = self._connect()
                    subscribed_at = time.monotonic()
                now = time.monotonic()
                if not self.assigned.is_set() and now - subscribed_at > self._join_seconds:
                    raise ConnectionError(
                        f"no partitions assigned {self._join_seconds:.0f} s after joining"
                    )
                if now - last_commit >= COMMIT_EVERY_SECONDS:
                    last_commit = now
                    self._commit(consumer)
                if now - last_lag >= LAG_EVERY_SECONDS:
                    last_lag = now
                    self._measure_lag(consumer)
                if self._fatal.is_set():
                    raise ConnectionError("the client hit a fatal error")
                self._flow_control(consumer)
                fetched = consumer.consume(500, POLL_SECONDS)
                if self._receive(fetched) or self._lost.is_set():
                    self._recreate_topics()
            except Exception as exc:
                log.warning("Kafka consumer %s: %s; reconnecting", self.name, exc)
                self._discard(consumer)
                consumer = None
                self._stop.wait(RECONNECT_SECONDS)
        if consumer is not None:
            self._commit(consumer)
            with contextlib.suppress(Exception):
                consumer.close()

    def _recreate_topics(self) -> None:
        """The broker lost the topic (or is away): create it again, and keep the consumer.
        librdkafka rejoins the group by itself (a broker that lost its state answers
        "unknown member"), and starts the new assignment from the committed offsets.
        A new consumer instead could leave the old one's half-made membership behind (a
        member id got, its join in flight): a coordinator that keeps such a member as the
        group's leader (the in-memory test broker does) then never completes a rebalance.
        Raises while the broker is away: the caller then starts a new consumer."""
        log.warning("Kafka consumer %s: the broker lost the topic; creating it again", self.name)
        self._ensure_topics()

    def _ensure_topics(self) -> None:
        """Create the topics unless the broker has them (asked anew); raises while the
        broker is away."""
        self.admin.forget()
        self.admin.ensure_sync(self.topics)
        self._lost.clear()

    def _connect(self) -> Consumer:
        self._ensure_topics()
        self._fatal.clear()
        config = {**self.config.group_consumer(self.group), "error_cb": self._on_error}
        consumer = Consumer(config)
        consumer.subscribe(
            self.topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        return consumer

    def _discard(self, consumer: Consumer | None) -> None:
        with self._lock:
            self._offsets.clear()
            self._buffer.clear()
            self._lag.clear()
            self._paused = False
        self.assigned.clear()
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.close()

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal.set()
        elif error.code() in BROKER_LOST:
            self._lost.set()

    def _receive(self, fetched: list[Message]) -> bool:
        """Buffer fetched records; True when an error says the broker lost the topic."""
        lost, added = False, False
        with self._lock:
            for message in fetched:
                error = message.error()
                if error is not None:
                    if error.code() in BROKER_LOST:
                        lost = True
                    elif error.code() != KafkaError._PARTITION_EOF:
                        log.warning("Kafka consumer %s: %s", self.name, error)
                    continue
                topic, partition = message.topic(), message.partition()
                if topic is None or partition is None or (topic, partition) not in self._offsets:
                    continue
                value = message.value()
                self._buffer.append(
                    Received(
                        topic,
                        partition,
                        message.offset() or 0,
                        _as_bytes(message.key()),
                        _as_bytes(value) or b"",
                    )
                )
                added = True
        if added:
            self._wake()
        return lost

    def _flow_control(self, consumer: Consumer) -> None:
        with self._lock:
            size = len(self._buffer)
        if not self._paused and size >= self.max_buffered:
            consumer.pause(consumer.assignment())
            self._paused = True
        elif self._paused and size <= self.max_buffered // 2:
            consumer.resume(consumer.assignment())
            self._paused = False

    def _commit(self, consumer: Consumer, keys: list[Key] | None = None) -> None:
        with self._lock:
            wanted = {
                key: position
                for key, offsets in self._offsets.items()
                if (keys is None or key in keys) and (position := offsets.to_commit()) is not None
            }
        if not wanted:
            return
        try:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in wanted.items()],
                asynchronous=False,
            )
        except KafkaException as exc:  # a rebalance is under way: commit again later
            log.debug("Kafka consumer %s: commit deferred: %s", self.name, exc)
            return
        with self._lock:
            for key, position in wanted.items():
                offsets = self._offsets.get(key)
                if offsets is not None:
                    offsets.committed = position

    def _measure_lag(self, consumer: Consumer) -> None:
        with self._lock:
            positions = {k: o.committed for k, o in self._offsets.items()}
        lag: dict[Key, int] = {}
        for (topic, partition), committed in positions.items():
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
            if high is not None and high >= 0:
                lag[(topic, partition)] = max(0, high - (committed or 0))
        with self._lock:
            self._lag = lag

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._lock:
            for tp in partitions:
                self._offsets[(tp.topic, tp.partition)] = PartitionOffsets()
        consumer.assign(partitions)
        if self._paused:
            consumer.pause(partitions)
        self.assigned.set()
        log.info(
            "Kafka consumer %s assigned %s",
            self.name,
            ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing",
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._commit(consumer, keys)
        self._forget(keys)
        consumer.unassign()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget([(tp.topic, tp.partition) for tp in partitions])
        consumer.unassign()

    def _forget(self, keys: list[Key]) -> None:
        gone = set(keys)
        with self._lock:
            for key in gone:
                self._offsets.pop(key, None)
                self._lag.pop(key, None)
            self._buffer = deque(r for r in self._buffer if (r.topic, r.partition) not in gone)


def _as_bytes(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return value.encode()


def committed_offsets(consumer: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    """The group's committed offset per partition; partitions without one are left out."""
    found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    return {tp.partition: tp.offset for tp in found if tp.offset != OFFSET_INVALID}
