"""In-process pub/sub for job events (the embedded default)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from inferline.domain.jobs import JobEvent

log = logging.getLogger(__name__)

_CLOSED = object()


class InProcessEventBus:
    """Each subscriber gets a bounded queue; a subscriber that falls too far behind
    loses its oldest events (and is told in the log) rather than growing memory."""

    def __init__(self, max_backlog: int = 10_000) -> None:
        self._max_backlog = max_backlog
        self._subscribers: set[asyncio.Queue[object]] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for queue in list(self._subscribers):
            self._put(queue, _CLOSED)

    async def publish(self, events: list[JobEvent]) -> None:
        for queue in list(self._subscribers):
            for event in events:
                self._put(queue, event)

    def _put(self, queue: asyncio.Queue[object], item: object) -> None:
        if queue.full():
            queue.get_nowait()
            log.warning("event subscriber is too slow; dropped its oldest event")
        queue.put_nowait(item)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def subscribe(self) -> AsyncIterator[JobEvent]:
        queue: asyncio.Queue[object] = asyncio.Queue(self._max_backlog)
        self._subscribers.add(queue)
        try:
            while True:
                item = await queue.get()
                if item is _CLOSED:
                    return
                assert isinstance(item, JobEvent)
                yield item
        finally:
            self._subscribers.discard(queue)
