"""The outbox relay: publishes committed job events to the event bus, at least once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from inferline.core.tasks import cancel_and_wait
from inferline.domain.jobs import JobEvent
from inferline.ports.events import EventBus
from inferline.ports.outbox import Outbox

log = logging.getLogger(__name__)


class OutboxRelay:
    """Reads unpublished events in commit order, publishes them, marks them published.

    A crash between publish and mark publishes again on restart (at least once);
    consumers deduplicate by the event's `seq`. `dispatch`, when given, also sees
    every batch before it is marked published (it puts job ids on the job queue).
    """

    def __init__(
        self,
        store: Outbox,
        bus: EventBus,
        *,
        batch_size: int = 500,
        idle_seconds: float = 0.05,
        dispatch: Callable[[list[JobEvent]], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.dispatch = dispatch
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def wake(self) -> None:
        """Something was committed in this process: look now instead of after the idle pause."""
        self._woken.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
            try:
                await self.relay_once()  # publish what is already committed
            except Exception as exc:
                log.warning("final outbox flush failed (the next relay publishes it): %s", exc)

    async def relay_once(self) -> int:
        """Publish one batch; returns how many events went out."""
        events = await self.store.unpublished_events(self.batch_size)
        if events:
            await self.bus.publish(events)
            if self.dispatch is not None:
                await self.dispatch(events)
            await self.store.mark_published([e.seq for e in events])
            self.published += len(events)
        return len(events)

    async def run(self) -> None:
        delay = self.idle_seconds
        while True:
            try:
                moved = await self.relay_once()
                delay = self.idle_seconds
            except Exception:
                log.exception("outbox relay failed; retrying in %.1fs", delay)
                moved, delay = 0, min(delay * 2, 5.0)
            if moved < self.batch_size:
                self._woken.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), delay)
