"""Builds the log batch jobs' part of a process from what the composition root hands it:
the archive and reports adapters (behind ports), the lease lock, the clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from inferline.apps.logs.batch import LogBatch
from inferline.apps.logs.batch_settings import LogBatchSettings
from inferline.apps.logs.scheduler import LogBatchScheduler
from inferline.core.tasks import cancel_and_wait
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.locks import LeaseLock
from inferline.ports.log_archive import LogArchive, LogReports


@dataclass
class LogBatchApp:
    """The batch jobs (`batch`, for the routes) and, where scheduled, their scheduler."""

    batch: LogBatch
    scheduler: LogBatchScheduler | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        await self.batch.start()
        if self.scheduler is not None and self._task is None:
            self._task = asyncio.create_task(self.scheduler.run(), name="log-batch-scheduler")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self.batch.close()


def build_log_batch(
    *,
    archive: LogArchive,
    reports: LogReports,
    lock: LeaseLock | None,
    holder: str,
    settings: LogBatchSettings | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> LogBatchApp:
    """The app for one process; the scheduler runs when `lock` is given (the processes
    that run jobs) and INFERLINE_LOGS_SCHEDULE is on."""
    settings = settings or LogBatchSettings()
    batch = LogBatch(archive, reports, settings, clock)
    scheduled = lock is not None and settings.schedule == "on"
    scheduler = LogBatchScheduler(batch, lock, holder) if scheduled and lock else None
    return LogBatchApp(batch, scheduler)
