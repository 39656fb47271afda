"""The event bus on a Redis Stream (source S2's `inference_results`).

The relay XADDs each job event (in the outbox's order) to one capped stream.
Every API process runs one reader (XREAD from the newest entry on) that fans
events out to its WebSocket subscribers, so events from any worker reach every
API process. The reader resumes after the last id it saw when Redis comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import TypeAdapter

from inferline.adapters.memory.events import InProcessEventBus
from inferline.adapters.redis.connection import KeySpace, LazyRedis
from inferline.core.tasks import cancel_and_wait
from inferline.domain.jobs import JobEvent

log = logging.getLogger(__name__)

EVENT_CODEC: TypeAdapter[JobEvent] = TypeAdapter(JobEvent)
READ_BATCH = 500


class RedisStreamEventBus(LazyRedis):
    """EventBus on one Redis Stream, trimmed to about `max_length` entries."""

    def __init__(
        self, url: str, prefix: str, *, max_length: int = 100_000, block_seconds: float = 1.0
    ) -> None:
        super().__init__(url)
        self.stream = KeySpace(prefix).events()
        self.max_length = max_length
        self.block_seconds = block_seconds
        self._local = InProcessEventBus()
        self._reader: asyncio.Task[None] | None = None
        self.last_id = "$"

    @property
    def reading(self) -> bool:
        """True once the reader pinned its start position (tests wait for it)."""
        return self.last_id != "$"

    async def start(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await cancel_and_wait(self._reader)
        self._reader = None
        await self._local.close()
        await super().close()

    async def publish(self, events: list[JobEvent]) -> None:
        if not events:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(
                    self.stream,
                    {"event": EVENT_CODEC.dump_json(event)},
                    maxlen=self.max_length,
                    approximate=True,
                )
            await pipe.execute()

    def subscribe(self) -> AsyncIterator[JobEvent]:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="event-stream-reader")
        return self._local.subscribe()

    async def _read_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._read_once()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading %s failed (%s); retrying in %.1fs", self.stream, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _read_once(self) -> None:
        if self.last_id == "$":  # pin "now" to an id, so nothing slips between two reads
            newest: Any = await self.client.xrevrange(self.stream, count=1)
            self.last_id = newest[0][0] if newest else "0-0"
        reply: Any = await self.client.xread(
            {self.stream: self.last_id}, count=READ_BATCH, block=int(self.block_seconds * 1000)
        )
        events: list[JobEvent] = []
        for _stream, entries in reply or []:
            for message_id, fields in entries:
                self.last_id = message_id
                events.append(EVENT_CODEC.validate_json(fields["event"]))
        await self._local.publish(events)
