"""The batch jobs' schedule inside Inferline: the hourly aggregation a few minutes after
each hour, the quality check after each UTC day, and the archive's retention.

Every process that runs the scheduler (the worker role) ticks; a tick runs a job only
while holding that job's lease lock (`ports/locks.py`: Redis or a database row, shared
by every process), so one period is never run twice at once. The lock is renewed while
the job works; a holder that loses it stops after the period in hand. Each completed
period is recorded (`LogReports.set_progress`) before the next begins, so a restarted or
newly elected scheduler catches up from the period after the last one completed; one
that never ran starts from the oldest archived line still within the retention.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from inferline.apps.logs.aggregation import HOUR_SECONDS
from inferline.apps.logs.batch import LogBatch
from inferline.apps.logs.quality import DAY_SECONDS
from inferline.core.tasks import cancel_and_wait
from inferline.ports.locks import Lease, LeaseLock
from inferline.ports.log_archive import TimeColumn

log = logging.getLogger(__name__)

AGGREGATE = "aggregate"
QUALITY = "quality"
LOCK_PREFIX = "logs-batch:"
IDLE_SECONDS = 60.0  # the longest sleep between ticks: a clock step is noticed within it
RETRY_SECONDS = 60.0  # after a failed tick (the database away, say)


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic job: its name, its period and delay (seconds), how to run one period."""

    name: str
    period: float
    delay: float
    by: TimeColumn  # which time of a line places it in a period
    run: Callable[[float], Awaitable[object]]

    def latest_due(self, now: float) -> float:
        """The start of the latest period that ended at least `delay` ago."""
        return math.floor((now - self.delay) / self.period) * self.period - self.period


class LogBatchScheduler:
    """Ticks the jobs of `batch`; `run` ticks until cancelled."""

    def __init__(
        self,
        batch: LogBatch,
        lock: LeaseLock,
        holder: str,
        *,
        lease_seconds: float = 120.0,
    ) -> None:
        self.batch = batch
        self.lock = lock
        self.holder = holder
        self.lease_seconds = lease_seconds
        settings = batch.settings
        self.jobs = (
            Job(
                AGGREGATE,
                HOUR_SECONDS,
                settings.aggregate_delay_seconds,
                "timestamp",
                lambda hour: batch.aggregate_hour(hour),
            ),
            Job(
                QUALITY,
                DAY_SECONDS,
                settings.quality_delay_seconds,
                "received_at",
                lambda day: batch.check_day(datetime.fromtimestamp(day, UTC).date()),
            ),
        )

    @property
    def retention_seconds(self) -> float:
        return self.batch.settings.retention_days * DAY_SECONDS

    async def tick(self) -> list[tuple[str, float]]:
        """Run every due period of every job this process can lock; prune the archive
        after an aggregation. Returns the (job, period start) pairs completed."""
        done: list[tuple[str, float]] = []
        for job in self.jobs:
            completed = await self._catch_up(job)
            done.extend((job.name, period) for period in completed)
            if job.name == AGGREGATE and completed:
                cutoff = self.batch.clock.now() - self.retention_seconds
                removed = await self.batch.archive.prune(cutoff)
                if removed:
                    log.info("log archive: %d lines past the retention removed", removed)
        return done

    async def _catch_up(self, job: Job) -> list[float]:
        lease = await self.lock.acquire(LOCK_PREFIX + job.name, self.holder, self.lease_seconds)
        if lease is None:
            return []  # another process runs this job now
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._keep(lease, lost))
        completed: list[float] = []
        try:
            period = await self._first_period(job)
            while period <= job.latest_due(self.batch.clock.now()) and not lost.is_set():
                await job.run(period)
                await self.batch.reports.set_progress(job.name, period, at=self.batch.clock.now())
                completed.append(period)
                period += job.period
        finally:
            await cancel_and_wait(keeper)
            await self.lock.release(lease)
        return completed

    async def _first_period(self, job: Job) -> float:
        """The period after the last completed one; the first time, the period of the
        oldest archived line still kept (with none: the next period, nothing is due)."""
        last = await self.batch.reports.progress(job.name)
        if last is not None:
            return last + job.period
        now = self.batch.clock.now()
        oldest = await self.batch.archive.oldest(by=job.by)
        if oldest is None:
            return job.latest_due(now) + job.period
        start = max(oldest, now - self.retention_seconds)
        return math.floor(start / job.period) * job.period

    async def _keep(self, lease: Lease, lost: asyncio.Event) -> None:
        """Renew the lease every third of its time while the job works."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not await self.lock.renew(lease, self.lease_seconds):
                log.warning("log batch job %s: its lock was lost; stopping", lease.name)
                lost.set()
                return

    def seconds_to_next(self) -> float:
        """How long until the next period of any job falls due (at most IDLE_SECONDS)."""
        now = self.batch.clock.now()
        waits = [job.latest_due(now) + 2 * job.period + job.delay - now for job in self.jobs]
        return max(1.0, min(IDLE_SECONDS, *waits))

    async def run(self) -> None:
        """Tick until cancelled; a failed tick is logged and retried later."""
        while True:
            try:
                for name, period in await self.tick():
                    log.info(
                        "log batch job %s done for %s",
                        name,
                        datetime.fromtimestamp(period, UTC).isoformat(),
                    )
                wait = self.seconds_to_next()
            except Exception:
                log.exception("log batch jobs failed; retrying in %.0f s", RETRY_SECONDS)
                wait = RETRY_SECONDS
            await asyncio.sleep(wait)
