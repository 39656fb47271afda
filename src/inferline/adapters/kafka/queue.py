"""The job queue on Kafka: a topic per model, a consumer group of workers per model.

The relay produces each job id to `<prefix>inferline.jobs.<model>` (key = job id, so
ids spread over the partitions and each goes to one member of the group
`<prefix>inferline.workers.<model>`). A worker's member hands ids to its claim loop
and, once a job's outcome is committed to the database, marks its record done; the
member commits, per partition, up to the lowest record that is not done (see
`offsets.py`). A member that dies commits nothing more: its partitions move to the
others, who read its unfinished records again (the store's claim refuses a job that
is still running elsewhere, and the attempt fence refuses a second result).

Kafka keeps no per-message acknowledgement and counts no deliveries, so `reclaim`,
`touch` and `forget_consumers` have nothing to do: the group's rebalance is the
reclaim. Crash loops are still bounded: each claim counts an attempt.

`missing` (the relay's sweep) needs to know which jobs still wait in a topic. The
relay remembers where it produced each job id; a record is still waiting while the
group's committed offset has not passed it. A partition whose log went back (the
broker lost its data) forgets what it held, so the sweep re-dispatches those jobs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition
from pydantic import ValidationError

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.consumer import GroupConsumer, committed_offsets
from inferline.adapters.kafka.producer import KafkaSender, Record
from inferline.adapters.kafka.topics import TopicAdmin
from inferline.ports.queue import Delivery, JobMessage

log = logging.getLogger(__name__)

SETTLE_EVERY_SECONDS = 10.0  # the dispatch log forgets consumed records at least this often


def jobs_topic(config: KafkaConfig, model: str) -> str:
    return config.topic(f"inferline.jobs.{model}")


def workers_group(config: KafkaConfig, model: str) -> str:
    return config.topic(f"inferline.workers.{model}")


class KafkaJobQueue:
    """JobQueue on Kafka consumer groups (one topic and one group per model)."""

    def __init__(self, config: KafkaConfig, *, max_buffered: int = 1000) -> None:
        self.config = config
        self.max_buffered = max_buffered
        self.admin = TopicAdmin(config)
        self.sender = KafkaSender(config, self.admin, "jobs")
        self.dispatched = DispatchLog()
        self._members: dict[tuple[str, str], GroupConsumer] = {}
        self._offsets_reader = OffsetsReader(config)
        self._settled_at: dict[str, float] = {}

    async def start(self) -> None:
        await self.ping()

    async def ping(self) -> None:
        await asyncio.to_thread(self.admin.ping_sync)

    async def close(self) -> None:
        members, self._members = list(self._members.values()), {}
        await asyncio.gather(*(member.close() for member in members))
        await self.sender.close()
        await asyncio.to_thread(self._offsets_reader.close)

    # -- producing (the relay) -------------------------------------------------
    async def enqueue(self, messages: list[JobMessage]) -> None:
        if not messages:
            return
        records = [
            Record(jobs_topic(self.config, m.model), m.job_id, m.model_dump_json().encode())
            for m in messages
        ]
        placed = await self.sender.send(records)
        for message, where in zip(messages, placed, strict=True):
            self.dispatched.record(where.topic, where.partition, where.offset, message.job_id)
        for model in {m.model for m in messages}:  # forget what was consumed since, now and then
            if time.monotonic() - self._settled_at.get(model, 0.0) > SETTLE_EVERY_SECONDS:
                try:
                    await self._settle(model)
                except Exception as exc:  # the records are sent; this is only bookkeeping
                    log.warning("could not read the committed offsets of %s: %s", model, exc)

    async def missing(self, messages: list[JobMessage]) -> list[JobMessage]:
        by_model: dict[str, list[JobMessage]] = defaultdict(list)
        for message in messages:
            by_model[message.model].append(message)
        absent: list[JobMessage] = []
        for model, batch in by_model.items():
            topic = await self._settle(model)
            absent.extend(m for m in batch if not self.dispatched.waiting(topic, m.job_id))
        return absent

    async def _settle(self, model: str) -> str:
        """Bring the dispatch log of `model` up to date with its group's commits."""
        topic = jobs_topic(self.config, model)
        positions = await asyncio.to_thread(
            self._offsets_reader.positions, topic, workers_group(self.config, model)
        )
        self.dispatched.settle(topic, positions)
        self._settled_at[model] = time.monotonic()
        return topic

    # -- consuming (the workers) -----------------------------------------------
    def _member(self, model: str, consumer: str) -> GroupConsumer:
        member = self._members.get((model, consumer))
        if member is None:
            member = GroupConsumer(
                self.config,
                self.admin,
                workers_group(self.config, model),
                [jobs_topic(self.config, model)],
                name=f"{consumer}/{model}",
                max_buffered=self.max_buffered,
            )
            member.start()
            self._members[(model, consumer)] = member
        return member

    async def read(
        self, model: str, consumer: str, count: int, block_seconds: float
    ) -> list[Delivery]:
        member = self._member(model, consumer)
        deliveries: list[Delivery] = []
        for record in await member.read(count, block_seconds):
            try:
                message = JobMessage.model_validate_json(record.value)
            except ValidationError:
                log.warning(
                    "dropping a malformed record at %s", _where(record.partition, record.offset)
                )
                member.done(record.topic, record.partition, record.offset)
                continue
            deliveries.append(
                Delivery(_where(record.partition, record.offset), message.job_id, model)
            )
        return deliveries

    async def reclaim(
        self, model: str, consumer: str, min_idle_seconds: float, count: int
    ) -> list[Delivery]:
        return []  # the group's rebalance hands a dead member's partitions to the others

    async def touch(self, model: str, consumer: str, message_ids: list[str]) -> None:
        return None  # each member's thread polls and heartbeats on its own

    async def ack(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            partition, offset = _parse_where(delivery.message_id)
            topic = jobs_topic(self.config, delivery.model)
            for (model, _consumer), member in self._members.items():
                if model == delivery.model and member.done(topic, partition, offset):
                    break

    async def forget_consumers(self, model: str, idle_seconds: float) -> int:
        return 0  # the group drops members whose session timed out


def _where(partition: int, offset: int) -> str:
    return f"{partition}:{offset}"


def _parse_where(message_id: str) -> tuple[int, int]:
    partition, _, offset = message_id.partition(":")
    return int(partition), int(offset)


@dataclass
class _TopicLog:
    by_job: dict[str, tuple[int, int]] = field(
        default_factory=dict
    )  # job id -> (partition, offset)
    newest: dict[int, int] = field(default_factory=dict)  # partition -> highest offset produced
    committed: dict[int, int] = field(default_factory=dict)  # partition -> highest commit seen


class DispatchLog:
    """Where this relay produced each job id that may still wait in its topic."""

    def __init__(self) -> None:
        self._topics: dict[str, _TopicLog] = defaultdict(_TopicLog)

    def record(self, topic: str, partition: int, offset: int, job_id: str) -> None:
        log_ = self._topics[topic]
        if offset <= log_.newest.get(partition, -1):
            self._reset(topic, partition, "it gave an offset already used")
        log_.newest[partition] = offset
        log_.by_job[job_id] = (partition, offset)

    def settle(self, topic: str, positions: PartitionPositions) -> None:
        """Forget records the group has committed past; reset partitions whose log went back."""
        log_ = self._topics[topic]
        for partition in list(log_.newest):
            # An empty (or missing) log that we wrote to: the broker lost it. Only emptiness
            # is trusted: some brokers (Tansu) report the end as the last batch's first offset.
            if positions.ends.get(partition, 0) <= 0:
                self._reset(topic, partition, "its log is empty")
        for partition, committed in list(log_.committed.items()):
            if positions.committed.get(partition, -1) < committed:  # the group forgot it
                self._reset(topic, partition, "the group's committed offset went back")
        log_.committed = dict(positions.committed)
        log_.by_job = {
            job_id: (partition, offset)
            for job_id, (partition, offset) in log_.by_job.items()
            if offset >= positions.committed.get(partition, 0)
        }

    def waiting(self, topic: str, job_id: str) -> bool:
        return job_id in self._topics[topic].by_job

    def _reset(self, topic: str, partition: int, why: str) -> None:
        log_ = self._topics[topic]
        log.warning(
            "partition %s[%d] was reset (%s): its jobs will be re-dispatched", topic, partition, why
        )
        log_.by_job = {j: (p, o) for j, (p, o) in log_.by_job.items() if p != partition}
        log_.newest.pop(partition, None)
        log_.committed.pop(partition, None)


@dataclass(frozen=True, slots=True)
class PartitionPositions:
    """Per partition: the group's committed offset, and where the log ends."""

    committed: dict[int, int]
    ends: dict[int, int]


class OffsetsReader:
    """Reads a group's committed offsets and the log's ends, without joining the group."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self.admin = TopicAdmin(config)
        self._consumers: dict[str, Consumer] = {}
        self._lock = threading.Lock()

    def positions(self, topic: str, group: str) -> PartitionPositions:
        with self._lock:
            partitions = self.admin.partitions_sync(topic)
            if not partitions:
                return PartitionPositions({}, {})
            consumer = self._consumers.get(group)
            if consumer is None:
                consumer = Consumer(self.config.group_consumer(group))
                self._consumers[group] = consumer
            try:
                committed = committed_offsets(consumer, topic, partitions)
                ends = {
                    p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in partitions
                }
            except Exception:
                self._drop(group)
                raise
            return PartitionPositions(committed, ends)

    def _drop(self, group: str) -> None:
        consumer = self._consumers.pop(group, None)
        if consumer is not None:
            consumer.close()

    def close(self) -> None:
        with self._lock:
            for group in list(self._consumers):
                self._drop(group)
