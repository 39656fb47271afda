"""Idempotent consumers' memory on Redis: `<prefix>:seen:<consumer>:<event id>`.

`begin` is `SET key processing NX EX processing_seconds` (atomic: of two concurrent
deliveries, one wins); `done` overwrites it with `done` for the retention; `forget`
deletes it.
"""

from __future__ import annotations

from typing import Any

from inferline.adapters.redis.connection import LazyRedis
from inferline.ports.dedupe import Seen


class RedisProcessedEvents(LazyRedis):
    """`ProcessedEvents` on Redis keys with TTLs, under `prefix`."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url)
        self.prefix = prefix

    def key(self, consumer: str, event_id: str) -> str:
        return f"{self.prefix}:seen:{consumer}:{event_id}"

    async def begin(self, consumer: str, event_id: str, processing_seconds: float) -> Seen:
        key = self.key(consumer, event_id)
        millis = max(1, int(processing_seconds * 1000))
        if await self.client.set(key, Seen.PROCESSING.value, nx=True, px=millis):
            return Seen.NEW
        value: Any = await self.client.get(key)
        if value is None:  # it ran out between the two commands: try once more
            won = await self.client.set(key, Seen.PROCESSING.value, nx=True, px=millis)
            return Seen.NEW if won else Seen.PROCESSING
        return Seen.DONE if value == Seen.DONE.value else Seen.PROCESSING

    async def done(self, consumer: str, event_id: str, retention_seconds: float) -> None:
        millis = max(1, int(retention_seconds * 1000))
        await self.client.set(self.key(consumer, event_id), Seen.DONE.value, px=millis)

    async def forget(self, consumer: str, event_id: str) -> None:
        await self.client.delete(self.key(consumer, event_id))
