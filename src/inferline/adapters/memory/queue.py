"""The job queue in this process: Redis Streams' consumer-group semantics, in memory.

What `RedisStreamQueue` does with a stream, a consumer group and a hash of
dispatched ids, this does with dictionaries: a message is handed to one consumer
and stays pending with it until acknowledged; a message pending longer than the
reclaim threshold can be taken over (its delivery count grows, which is how
`QueueJobSource` finds poison); a touch keeps it with its consumer; an ack deletes
it. Idle times are read from the injected clock, so tests move them without
sleeping. Nothing survives the process: it serves one process's workers (and the
unit tests, where it is the queue the worker reads), never several processes.
The same contract tests run on it and on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from dataclasses import dataclass, field

from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.queue import Delivery, JobMessage


@dataclass(slots=True)
class _Pending:
    """A delivered, unacknowledged message: who holds it, since when, how often handed out."""

    message: JobMessage
    consumer: str
    delivered_at: float
    deliveries: int = 1


@dataclass(slots=True)
class _Stream:
    """One model's queue: messages not yet delivered, and those pending with a consumer."""

    new: dict[str, JobMessage] = field(default_factory=dict)  # in arrival order
    pending: dict[str, _Pending] = field(default_factory=dict)  # in arrival order
    consumers: dict[str, float] = field(default_factory=dict)  # name -> last seen
    dispatched: set[str] = field(default_factory=set)  # job ids enqueued, not yet acked
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class InProcessJobQueue:
    """JobQueue in memory (one consumer group of workers per model)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._streams: dict[str, _Stream] = defaultdict(_Stream)
        self._ids = itertools.count(1)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    # -- producing -------------------------------------------------------------
    async def enqueue(self, messages: list[JobMessage]) -> None:
        for message in messages:
            stream = self._streams[message.model]
            stream.new[f"{next(self._ids)}-0"] = message
            stream.dispatched.add(message.job_id)
            stream.arrived.set()

    async def missing(self, messages: list[JobMessage]) -> list[JobMessage]:
        return [m for m in messages if m.job_id not in self._streams[m.model].dispatched]

    # -- consuming -------------------------------------------------------------
    async def read(
        self, model: str, consumer: str, count: int, block_seconds: float
    ) -> list[Delivery]:
        stream = self._streams[model]
        if not stream.new and block_seconds > 0:
            stream.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream.arrived.wait(), block_seconds)
        now = self._seen(stream, consumer)
        taken = list(itertools.islice(stream.new.items(), count))
        for message_id, message in taken:
            del stream.new[message_id]
            stream.pending[message_id] = _Pending(message, consumer, now)
        return [Delivery(mid, m.job_id, model) for mid, m in taken]

    async def reclaim(
        self, model: str, consumer: str, min_idle_seconds: float, count: int
    ) -> list[Delivery]:
        stream = self._streams[model]
        now = self._seen(stream, consumer)
        idle = [
            (message_id, held)
            for message_id, held in sorted(stream.pending.items(), key=lambda p: _order(p[0]))
            if now - held.delivered_at >= min_idle_seconds
        ][:count]
        for _, held in idle:
            held.consumer, held.delivered_at = consumer, now
            held.deliveries += 1
        return [Delivery(mid, h.message.job_id, model, h.deliveries) for mid, h in idle]

    async def touch(self, model: str, consumer: str, message_ids: list[str]) -> None:
        stream = self._streams[model]
        now = self._seen(stream, consumer)
        for message_id in message_ids:
            held = stream.pending.get(message_id)
            if held is not None:  # taken over and acked by another: nothing to keep
                held.consumer, held.delivered_at = consumer, now

    async def ack(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            stream = self._streams[delivery.model]
            stream.pending.pop(delivery.message_id, None)
            stream.new.pop(delivery.message_id, None)
            stream.dispatched.discard(delivery.job_id)

    async def forget_consumers(self, model: str, idle_seconds: float) -> int:
        stream = self._streams[model]
        holding = {held.consumer for held in stream.pending.values()}
        now = self.clock.now()
        idle = [
            name
            for name, seen in stream.consumers.items()
            if name not in holding and now - seen >= idle_seconds
        ]
        for name in idle:
            del stream.consumers[name]
        return len(idle)

    def _seen(self, stream: _Stream, consumer: str) -> float:
        """The consumer asked now (it exists from its first read, claim or touch)."""
        now = stream.consumers[consumer] = self.clock.now()
        return now


def _order(message_id: str) -> int:
    """Message ids ("<n>-0") in the order they were enqueued, as a stream orders them."""
    return int(message_id.partition("-")[0])
