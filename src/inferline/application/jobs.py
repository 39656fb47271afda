"""Job use cases: submit, read, list, cancel, retry, timeline."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from inferline.application.admission import Admission, QueueDepths
from inferline.application.auth import check_job_quota
from inferline.application.group_commit import GroupCommitter
from inferline.application.inputs import validate_input
from inferline.domain.errors import InvalidInput, NotFound
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import Job, JobEvent, JobStatus, NewJob, QueueFull
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.metrics import UseCaseMetrics
from inferline.ports.repository import JobRepository
from inferline.ports.serving import ModelCatalog

log = logging.getLogger(__name__)

MAX_ATTEMPTS_LIMIT = 100


@dataclass(slots=True)
class SubmitJob:
    """A client's request to run one input through a model later."""

    tenant: str
    model: str
    input: Any
    idempotency_key: str | None = None
    priority: int = 0
    deadline: float | None = None
    max_attempts: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    """The job's id when the caller made it (`domain.ids.new_job_id`) to name something
    before the job exists, as the OCR app names its blob; default a new one."""


class JobService:
    """Submits and manages jobs; the database commit is the acknowledgement."""

    def __init__(
        self,
        store: JobRepository,
        registry: ModelCatalog,
        metrics: UseCaseMetrics,
        depths: QueueDepths,
        *,
        default_max_attempts: int,
        max_queued_jobs: int,
        on_commit: Callable[[], None] = lambda: None,
        clock: Clock = SYSTEM_CLOCK,
        count_unfinished: Callable[[str], Awaitable[int]] | None = None,
    ) -> None:
        """`count_unfinished(tenant)` counts a tenant's queued and running jobs, for the
        calling key's concurrent-job limit (`application/auth.py`)."""
        self.store = store
        self.count_unfinished = count_unfinished
        self.clock = clock
        self.registry = registry
        self.metrics = metrics
        self.depths = depths
        self.default_max_attempts = default_max_attempts
        self.admission = Admission(depths, max_queued_jobs)
        self._on_commit = on_commit
        self._writer: GroupCommitter[NewJob, tuple[Job, bool] | QueueFull] = GroupCommitter(
            self._flush_singles
        )

    async def submit(self, command: SubmitJob) -> tuple[Job, bool]:
        """Validate and store one job; returns (job, created). Idempotent by key.
        Overloaded (429) when the model's queue is at its limit."""
        new_job = self._prepare(command)
        self.admission.refuse_if_seen_full([new_job])
        await check_job_quota(command.tenant, 1, self.count_unfinished)
        stored = await self._writer.submit(new_job)
        if isinstance(stored, QueueFull):
            raise self.admission.overloaded(stored)
        job, created = stored
        # Logged here, in the caller's task, so the line carries the caller's request_id.
        log.debug(
            "job %s %s",
            job.id,
            "queued" if created else "already exists (idempotent)",
            extra={"job_id": job.id, "model": job.model},
        )
        return job, created

    async def submit_many(self, commands: list[SubmitJob]) -> list[tuple[Job, bool]]:
        """Validate every job first, then store them together: all or nothing, also when
        they do not all fit in their models' queues (Overloaded)."""
        prepared = []
        for index, command in enumerate(commands):
            try:
                prepared.append(self._prepare(command))
            except InvalidInput as exc:
                raise InvalidInput(f"jobs[{index}]: {exc.message}", details=exc.details) from None
        self.admission.refuse_if_seen_full(prepared)
        for tenant in {command.tenant for command in commands}:
            adding = sum(command.tenant == tenant for command in commands)
            await check_job_quota(tenant, adding, self.count_unfinished)
        results: list[tuple[Job, bool]] = []
        for stored in await self._store(prepared, all_or_nothing=True):
            if isinstance(stored, QueueFull):
                raise self.admission.overloaded(stored)
            results.append(stored)
        return results

    def _prepare(self, command: SubmitJob) -> NewJob:
        model_class = self.registry.get(command.model)
        item = validate_input(model_class, command.input, field="input")
        if command.deadline is not None and command.deadline <= self.clock.now():
            raise InvalidInput(
                "deadline is in the past",
                details=[{"field": "deadline", "message": "must be in the future"}],
            )
        max_attempts = command.max_attempts or self.default_max_attempts
        if not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise InvalidInput(
                f"max_attempts must be between 1 and {MAX_ATTEMPTS_LIMIT}",
                details=[{"field": "max_attempts", "message": "out of range"}],
            )
        return NewJob(
            id=command.id or new_job_id(),
            tenant=command.tenant,
            model=model_class.name,
            model_version=model_class.version,
            input=item.model_dump(mode="json"),
            priority=command.priority,
            max_attempts=max_attempts,
            idempotency_key=command.idempotency_key,
            deadline=command.deadline,
            metadata=command.metadata,
        )

    async def _flush_singles(self, jobs: list[NewJob]) -> list[tuple[Job, bool] | QueueFull]:
        """One group commit of single submits: each job is admitted or refused alone."""
        return await self._store(jobs, all_or_nothing=False)

    async def _store(
        self, jobs: list[NewJob], *, all_or_nothing: bool
    ) -> list[tuple[Job, bool] | QueueFull]:
        results = await self.store.create_jobs(
            jobs, max_waiting=self.admission.exact_limit(jobs), all_or_nothing=all_or_nothing
        )
        created = [r[0] for r in results if not isinstance(r, QueueFull) and r[1]]
        for job in created:
            self.metrics.jobs.labels(job.model, JobStatus.QUEUED.value).inc()
        self.depths.add_waiting(created)
        if created:
            self._on_commit()
        return results

    async def get(self, tenant: str, job_id: str) -> Job:
        """One job of the tenant."""
        job = await self.store.get_job(tenant, job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found", details={"job_id": job_id})
        return job

    async def list_jobs(
        self,
        tenant: str,
        *,
        status: JobStatus | None = None,
        model: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> list[Job]:
        """Newest first, continuing after `cursor` (the last id of the previous page)."""
        if model is not None:
            model = self.registry.canonical(model)
        return await self.store.list_jobs(
            tenant, status=status, model=model, limit=limit, before_id=cursor
        )

    async def cancel(self, tenant: str, job_id: str) -> Job:
        """Cancel a job that has not finished; a running job's result will be dropped."""
        job = await self.store.cancel_job(tenant, job_id)
        self.metrics.jobs.labels(job.model, job.status.value).inc()
        self._on_commit()
        return job

    async def retry(self, tenant: str, job_id: str) -> Job:
        """Queue a dead, cancelled or expired job again."""
        job = await self.store.retry_job(tenant, job_id)
        self.metrics.jobs.labels(job.model, job.status.value).inc()
        self._on_commit()
        return job

    async def timeline(self, tenant: str, job_id: str) -> list[JobEvent]:
        """Every recorded state change of one job, oldest first."""
        events = await self.store.job_events(tenant, job_id)
        if not events:
            await self.get(tenant, job_id)  # NotFound when the job does not exist
        return events
