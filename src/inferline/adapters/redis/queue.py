"""The job queue on Redis Streams: one stream per model, one consumer group of workers.

A message is added with XADD together with a marker in a per-model hash (in one
MULTI), read with XREADGROUP, and removed with XACK + XDEL + HDEL (one MULTI)
once the worker committed the job's outcome. The stream therefore only holds
messages not yet done, and the hash says which job ids are in it: the relay's
sweep re-dispatches waiting jobs whose id is in neither (Redis restarted empty,
a message acknowledged before the job became due, ...).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, cast

from redis.exceptions import ResponseError

from inferline.adapters.redis.connection import KeySpace, LazyRedis, is_missing_group
from inferline.ports.queue import Delivery, JobMessage

log = logging.getLogger(__name__)

GROUP = "workers"


class RedisStreamQueue(LazyRedis):
    """JobQueue on Redis Streams consumer groups (XREADGROUP / XACK / XAUTOCLAIM)."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url)
        self.keys = KeySpace(prefix)
        self._groups: set[str] = set()  # streams whose group this process has ensured

    async def start(self) -> None:
        await self.ping()

    async def ping(self) -> None:
        await self.client.ping()

    # -- producing -------------------------------------------------------------
    async def enqueue(self, messages: list[JobMessage]) -> None:
        if not messages:
            return
        by_model = _by_model(messages)
        for model in by_model:
            await self._ensure_group(model)
        async with self.client.pipeline(transaction=True) as pipe:
            for model, batch in by_model.items():
                stream = self.keys.jobs(model)
                for message in batch:
                    pipe.xadd(stream, cast(Any, message.model_dump()))
                pipe.hset(self.keys.dispatched(model), mapping={m.job_id: 1 for m in batch})
            await pipe.execute()

    async def missing(self, messages: list[JobMessage]) -> list[JobMessage]:
        absent: list[JobMessage] = []
        for model, batch in _by_model(messages).items():
            marks = await self.client.hmget(self.keys.dispatched(model), [m.job_id for m in batch])
            absent.extend(m for m, mark in zip(batch, marks, strict=True) if mark is None)
        return absent

    async def _ensure_group(self, model: str, *, force: bool = False) -> None:
        """Create the stream and its group from the first entry (id 0), if missing."""
        stream = self.keys.jobs(model)
        if stream in self._groups and not force:
            return
        try:
            await self.client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(stream)

    # -- consuming -------------------------------------------------------------
    async def read(
        self, model: str, consumer: str, count: int, block_seconds: float
    ) -> list[Delivery]:
        await self._ensure_group(model)
        stream = self.keys.jobs(model)
        try:
            reply: Any = await self.client.xreadgroup(
                GROUP, consumer, {stream: ">"}, count=count, block=_block_millis(block_seconds)
            )
        except ResponseError as exc:
            if not is_missing_group(exc):
                raise
            log.warning("stream %s lost its consumer group (Redis restarted?); recreating", stream)
            await self._ensure_group(model, force=True)
            return []
        return [
            _delivery(message_id, fields, model)
            for _stream, entries in reply or []
            for message_id, fields in entries
            if fields  # an entry deleted after it was delivered has no fields
        ]

    async def reclaim(
        self, model: str, consumer: str, min_idle_seconds: float, count: int
    ) -> list[Delivery]:
        stream = self.keys.jobs(model)
        try:
            claimed: Any = await self.client.xautoclaim(
                stream, GROUP, consumer, int(min_idle_seconds * 1000), "0-0", count=count
            )
        except ResponseError as exc:
            if is_missing_group(exc):
                return []
            raise
        entries = [(message_id, fields) for message_id, fields in claimed[1] if fields]
        if not entries:
            return []
        counts = await self._delivery_counts(stream, consumer, [mid for mid, _ in entries])
        return [
            _delivery(message_id, fields, model, counts.get(message_id, 1))
            for message_id, fields in entries
        ]

    async def _delivery_counts(
        self, stream: str, consumer: str, message_ids: list[str]
    ) -> dict[str, int]:
        ordered = sorted(message_ids, key=_stream_id_key)
        pending: Any = await self.client.xpending_range(
            stream, GROUP, ordered[0], ordered[-1], len(ordered) * 2, consumername=consumer
        )
        return {p["message_id"]: int(p["times_delivered"]) for p in pending}

    async def touch(self, model: str, consumer: str, message_ids: list[str]) -> None:
        if message_ids:
            await self.client.xclaim(
                self.keys.jobs(model), GROUP, consumer, 0, cast(Any, message_ids), justid=True
            )

    async def ack(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        by_model: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in deliveries:
            by_model[delivery.model].append(delivery)
        async with self.client.pipeline(transaction=True) as pipe:
            for model, batch in by_model.items():
                stream = self.keys.jobs(model)
                ids = [d.message_id for d in batch]
                pipe.xack(stream, GROUP, *ids)
                pipe.xdel(stream, *ids)
                pipe.hdel(self.keys.dispatched(model), *{d.job_id for d in batch})
            await pipe.execute()

    async def forget_consumers(self, model: str, idle_seconds: float) -> int:
        stream = self.keys.jobs(model)
        try:
            consumers: Any = await self.client.xinfo_consumers(stream, GROUP)
        except ResponseError as exc:
            if is_missing_group(exc):
                return 0
            raise
        idle = [
            c["name"]
            for c in consumers
            if int(c["pending"]) == 0 and int(c["idle"]) >= idle_seconds * 1000
        ]
        for name in idle:
            await self.client.xgroup_delconsumer(stream, GROUP, name)
        return len(idle)


def _by_model(messages: list[JobMessage]) -> dict[str, list[JobMessage]]:
    grouped: dict[str, list[JobMessage]] = defaultdict(list)
    for message in messages:
        grouped[message.model].append(message)
    return grouped


def _delivery(message_id: str, fields: dict[str, Any], model: str, deliveries: int = 1) -> Delivery:
    message = JobMessage.model_validate(fields)
    return Delivery(message_id, message.job_id, model, deliveries)


def _block_millis(seconds: float) -> int | None:
    """XREADGROUP's BLOCK in milliseconds; None (no BLOCK) for zero, as BLOCK 0 waits forever."""
    return int(seconds * 1000) or None if seconds > 0 else None


def _stream_id_key(message_id: str) -> tuple[int, int]:
    millis, _, sequence = message_id.partition("-")
    return int(millis), int(sequence or 0)
