"""The worker: claims jobs from the store, feeds them to the batchers, commits outcomes.

It is an adapter around the `JobProcessor` use case. Per model, a claim loop keeps
up to `in_flight` jobs in the batcher; outcomes are group-committed; a heartbeat
extends leases of jobs in flight; a maintenance loop recovers jobs whose worker
died (expired lease) and expires jobs past their deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from inferline.application.group_commit import GroupCommitter
from inferline.application.processing import JobProcessor
from inferline.core.logging import job_id_var, model_var
from inferline.core.metrics import Metrics
from inferline.domain.jobs import Job, JobStatus, Outcome, RetryPolicy, WorkerBeat
from inferline.ports.claims import JobSource
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.serving import ModelServing, ServedModel
from inferline.ports.store import WorkerStore
from inferline.worker.sources import StoreJobSource

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 600.0

# One line per finished attempt; successes only at DEBUG (they are counted in metrics).
_JOB_LOG_LEVELS = {
    JobStatus.SUCCEEDED: logging.DEBUG,
    JobStatus.FAILED: logging.WARNING,
    JobStatus.EXPIRED: logging.WARNING,
    JobStatus.DEAD: logging.ERROR,
}


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How a worker claims and holds jobs."""

    lease_seconds: float = 10.0
    in_flight_per_model: int | None = None
    poll_interval_seconds: float = 0.1
    shutdown_grace_seconds: float = 30.0
    event_retention_seconds: float = 7 * 24 * 3600
    job_retention_seconds: float | None = None


def new_worker_id() -> str:
    """Host, pid and a random suffix: unique across restarts."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs queued jobs of every loaded model in this process."""

    def __init__(
        self,
        store: WorkerStore,
        models: ModelServing,
        metrics: Metrics,
        policy: RetryPolicy,
        config: WorkerConfig,
        *,
        worker_id: str | None = None,
        on_commit: Callable[[], None] = lambda: None,
        source: Callable[[str], JobSource] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """`source` builds this worker's job source from its id (default: claim from the
        store); `clock` is the time of its heartbeats and deadline checks, the store's."""
        self.store = store
        self.clock = clock
        self.models = models
        self.metrics = metrics
        self.policy = policy
        self.config = config
        self.worker_id = worker_id or new_worker_id()
        self.processor = JobProcessor(models, clock)
        self.source = (
            source(self.worker_id)
            if source is not None
            else StoreJobSource(store, self.worker_id, config.lease_seconds)
        )
        self._on_commit = on_commit
        self._completions: GroupCommitter[Outcome, bool] = GroupCommitter(self._commit_outcomes)
        self._in_flight: dict[str, dict[str, asyncio.Task[None]]] = {}
        self._woken: dict[str, asyncio.Event] = {}
        self._claim_tasks: list[asyncio.Task[None]] = []
        self._background: list[asyncio.Task[None]] = []
        self._stopping = False
        self.last_claim_at: float | None = None
        self.started_at = clock.now()

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Start claiming for every loaded model, plus heartbeat and maintenance."""
        for served in self.models.served():
            if served.loaded:
                self._in_flight[served.name] = {}
                self._woken[served.name] = asyncio.Event()
                self._claim_tasks.append(
                    asyncio.create_task(self._claim_loop(served), name=f"claim-{served.name}")
                )
        self._background = [
            asyncio.create_task(self._heartbeat_loop(), name="lease-heartbeat"),
            asyncio.create_task(self._maintenance_loop(), name="maintenance"),
        ]
        log.info("worker %s started for %s", self.worker_id, sorted(self._in_flight))

    def wake(self) -> None:
        """New jobs were committed in this process: claim now."""
        for event in self._woken.values():
            event.set()

    @property
    def in_flight(self) -> int:
        return sum(len(tasks) for tasks in self._in_flight.values())

    @property
    def alive(self) -> bool:
        """True while the worker claims jobs for at least one model."""
        return not self._stopping and any(not t.done() for t in self._claim_tasks)

    async def stop(self) -> None:
        """Stop claiming, let in-flight jobs finish within the grace period, release the rest."""
        self._stopping = True
        self.wake()
        await asyncio.gather(*self._claim_tasks, return_exceptions=True)
        pending = [t for tasks in self._in_flight.values() for t in tasks.values()]
        if pending:
            log.info(
                "waiting up to %.0fs for %d jobs in flight",
                self.config.shutdown_grace_seconds,
                len(pending),
            )
            await asyncio.wait(pending, timeout=self.config.shutdown_grace_seconds)
        leftover = [job_id for tasks in self._in_flight.values() for job_id in tasks]
        for tasks in self._in_flight.values():
            for task in tasks.values():
                task.cancel()
        await self._completions.drain()
        if leftover:
            released = await self.store.release_jobs(self.worker_id, leftover)
            await self.source.settle(leftover)
            log.info("released %d unfinished jobs back to the queue", len(released))
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        try:
            await self.store.remove_worker(self.worker_id)
        except Exception:
            log.exception("could not remove this worker's heartbeat row")

    # -- claiming --------------------------------------------------------------
    def _capacity(self, served: ServedModel) -> int:
        return self.config.in_flight_per_model or 2 * served.batching.max_batch_size

    async def _claim_loop(self, served: ServedModel) -> None:
        name = served.name
        capacity = self._capacity(served)
        refill_at = max(1, min(served.batching.max_batch_size, capacity // 2))
        woken = self._woken[name]
        delay = self.config.poll_interval_seconds
        while not self._stopping:
            in_flight = self._in_flight[name]
            free = capacity - len(in_flight)
            if free < refill_at and in_flight:
                woken.clear()
                await woken.wait()
                continue
            try:
                jobs = await self.source.claim(name, free)
                delay = self.config.poll_interval_seconds
            except Exception:
                log.exception("claiming jobs for %s failed; retrying in %.1fs", name, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if not jobs and self.source.blocks:
                continue
            if not jobs:
                woken.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), self.config.poll_interval_seconds)
                continue
            now = self.last_claim_at = self.clock.now()
            self._on_commit()
            for job in jobs:
                self.metrics.jobs.labels(name, JobStatus.RUNNING.value).inc()
                self.metrics.queue_wait.labels(name).observe(max(0.0, now - job.available_at))
                in_flight[job.id] = asyncio.create_task(self._handle(job), name=f"job-{job.id}")
            self.metrics.in_flight.labels(name).set(len(in_flight))

    async def _handle(self, job: Job) -> None:
        job_id_var.set(job.id)
        model_var.set(job.model)
        try:
            outcome = await self.processor.run(job)
            await self._record(outcome)
        finally:
            in_flight = self._in_flight[job.model]
            in_flight.pop(job.id, None)
            self.metrics.in_flight.labels(job.model).set(len(in_flight))
            self._woken[job.model].set()

    async def _record(self, outcome: Outcome) -> None:
        """Commit an outcome, retrying while the database is away."""
        delay = 0.1
        while True:
            try:
                await self._completions.submit(outcome)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not record outcome; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _commit_outcomes(self, outcomes: list[Outcome]) -> list[bool]:
        changed = await self.store.complete_jobs(outcomes, self.policy)
        self._on_commit()
        await self.source.settle([o.job_id for o in outcomes])
        applied = {job.id for job in changed}
        for job in changed:
            self._observe_finished(job)
        return [o.job_id in applied for o in outcomes]

    def _observe_finished(self, job: Job) -> None:
        self.metrics.jobs.labels(job.model, job.status.value).inc()
        if job.status is JobStatus.FAILED:
            self.metrics.job_retries.labels(job.model).inc()
        if job.finished_at is not None:
            self.metrics.job_latency.labels(job.model).observe(job.finished_at - job.created_at)
        log.log(
            _JOB_LOG_LEVELS.get(job.status, logging.INFO),
            "job %s %s",
            job.id,
            job.status.value,
            extra={
                "job_id": job.id,
                "model": job.model,
                "status": job.status.value,
                "attempts": job.attempts,
                "error": job.error,
            },
        )

    # -- background ------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        """Extend the leases of jobs in flight and tell the store this worker lives."""
        interval = self.config.lease_seconds / 3
        while True:
            ids = [job_id for tasks in self._in_flight.values() for job_id in tasks]
            try:
                await self.store.extend_leases(self.worker_id, ids, self.config.lease_seconds)
                await self.store.record_worker(self._beat())
            except Exception:
                log.exception("lease heartbeat failed")
            try:
                await self.source.touch(ids)
            except Exception as exc:
                log.warning("queue heartbeat failed: %s", exc)
            await asyncio.sleep(interval)

    def _beat(self) -> WorkerBeat:
        return WorkerBeat(
            id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            models=sorted(self._in_flight),
            in_flight=self.in_flight,
            started_at=self.started_at,
            heartbeat_at=self.clock.now(),
        )

    async def _maintenance_loop(self) -> None:
        """Recover lost leases and expire overdue jobs (the store decides by its clock,
        the domain how each job changes); prune now and then. The pauses between
        rounds are real time (`asyncio.sleep`, `time.monotonic`), not the job clock."""
        interval = min(1.0, self.config.lease_seconds / 4)
        last_prune = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.source.maintain():
                    self.wake()
            except Exception as exc:
                log.warning("job source upkeep failed: %s", exc)
            try:
                changed = await self.store.recover_expired_leases(self.policy)
                self.source.adopt([j for j in changed if j.status is JobStatus.FAILED])
                changed += await self.store.expire_overdue()
                for job in changed:
                    self._observe_finished(job)
                if changed:
                    log.info("recovered or expired %d jobs", len(changed))
                    self._on_commit()
                    self.wake()
                if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                    last_prune = time.monotonic()
                    await self.store.prune(
                        self.config.event_retention_seconds, self.config.job_retention_seconds
                    )
            except Exception as exc:
                if _transient(exc):  # a deadlock or serialization failure: next round redoes it
                    log.warning("maintenance deferred: %s", str(exc).splitlines()[0][:300])
                else:
                    log.exception("maintenance failed")


def _transient(exc: BaseException) -> bool:
    """A database's "try again" (MySQL/MariaDB deadlock 1213 or lock wait 1205, PostgreSQL
    deadlock 40P01 or serialization failure 40001): the work is simply redone."""
    text = str(exc)
    return any(code in text for code in ("(1213,", "(1205,", "40P01", "40001", "deadlock detected"))
