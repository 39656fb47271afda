"""Puts committed jobs on the job queue: from the outbox, and by a periodic sweep.

The relay calls `dispatch` with each batch of committed outbox events before it
marks them published, so a crash between commit and enqueue loses nothing (the
events are read again). The sweep is the safety net: it re-dispatches jobs that
are runnable in the store but whose id is not in the queue (retries whose backoff
ended, a Redis that restarted empty). Duplicates are harmless: a worker claims
the job in the store first, and a message for a job that cannot run is acked.
"""

from __future__ import annotations

import asyncio
import logging

from inferline.domain.jobs import JobEvent, JobStatus
from inferline.ports.claims import ClaimQueue
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.queue import JobMessage, JobQueue

log = logging.getLogger(__name__)

DISPATCHED_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.FAILED})


class QueueDispatcher:
    """Enqueues job ids of `job.queued` / `job.failed` events; sweeps for jobs left out."""

    def __init__(
        self,
        store: ClaimQueue,
        queue: JobQueue,
        *,
        sweep_seconds: float = 2.0,
        sweep_batch: int = 2000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.clock = clock
        self.queue = queue
        self.sweep_seconds = sweep_seconds
        self.sweep_batch = sweep_batch
        self.dispatched = 0
        self.redispatched = 0
        self._task: asyncio.Task[None] | None = None

    async def dispatch(self, events: list[JobEvent]) -> None:
        """Enqueue the jobs these events made runnable (or soon runnable)."""
        messages = [
            JobMessage(job_id=e.job_id, model=e.model)
            for e in events
            if e.status in DISPATCHED_STATUSES
        ]
        await self.queue.enqueue(messages)
        self.dispatched += len(messages)

    async def sweep_once(self) -> int:
        """Re-dispatch jobs runnable for over a sweep period but absent from the queue."""
        since = self.clock.now() - self.sweep_seconds
        waiting = await self.store.runnable_jobs(self.sweep_batch, since)
        candidates = [JobMessage(job_id=job_id, model=model) for model, job_id in waiting]
        absent = await self.queue.missing(candidates) if candidates else []
        await self.queue.enqueue(absent)
        self.redispatched += len(absent)
        return len(absent)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._sweep_forever(), name="queue-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                if moved := await self.sweep_once():
                    log.info("re-dispatched %d runnable jobs missing from the queue", moved)
            except Exception as exc:
                log.warning("queue sweep failed: %s", exc)
