"""Refreshes queue depths from the store once a second (for gauges and admission)."""

from __future__ import annotations

import asyncio
import logging
import time

from inferline.application.admission import QueueDepths
from inferline.core.metrics import Metrics
from inferline.ports.statistics import JobStatistics

log = logging.getLogger(__name__)


class QueueMonitor:
    """Keeps `QueueDepths` and the queue-depth gauge fresh; remembers database health."""

    def __init__(
        self,
        store: JobStatistics,
        depths: QueueDepths,
        metrics: Metrics,
        models: list[str],
        interval: float = 1.0,
    ) -> None:
        self.store = store
        self.depths = depths
        self.metrics = metrics
        self.interval = interval
        self.models = models
        self.database_ok = False
        self.database_error: str | None = None
        self.checked_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="queue-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def refresh(self) -> None:
        try:
            counts = await self.store.queue_counts()
        except Exception as exc:
            self.database_ok, self.database_error = False, f"{type(exc).__name__}: {exc}"
            log.warning("database check failed: %s", self.database_error)
            return
        self.database_ok, self.database_error, self.checked_at = True, None, time.time()
        known = set(self.models) | set(self.depths.waiting) | set(counts)
        self.depths.update(counts)
        for model in known:
            self.metrics.queue_depth.labels(model).set(self.depths.waiting.get(model, 0))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.refresh()
