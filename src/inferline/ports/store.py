"""The job store port: jobs, results and the outbox of job events, in one database."""

from __future__ import annotations

from typing import Protocol

from inferline.domain.jobs import (
    Job,
    JobEvent,
    JobStatus,
    NewJob,
    Outcome,
    QueueFull,
    RetryPolicy,
    WorkerBeat,
)


class JobStore(Protocol):
    """The source of truth. Every method is one transaction."""

    async def start(self) -> None:
        """Connect and apply migrations."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> None:
        """Raise if the database does not answer."""

    async def create_jobs(
        self,
        jobs: list[NewJob],
        *,
        max_waiting: int | None = None,
        all_or_nothing: bool = False,
    ) -> list[tuple[Job, bool] | QueueFull]:
        """Insert jobs (idempotency keys return the existing job); `True` when created.

        With `max_waiting`, no model ends with more than that many waiting jobs, counted
        exactly in this transaction, which takes turns with every other such one of the
        model, database-wide: new jobs beyond it come back as `QueueFull` (a job whose key
        exists is never refused); with `all_or_nothing`, if one does, all new jobs do."""

    async def get_job(self, tenant: str, job_id: str) -> Job | None:
        """One job of the tenant, or None."""

    async def list_jobs(
        self,
        tenant: str,
        *,
        status: JobStatus | None = None,
        model: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[Job]:
        """Newest first; `before_id` continues a previous page."""

    async def cancel_job(self, tenant: str, job_id: str) -> Job:
        """Cancel a job that has not finished (NotFound / Conflict otherwise)."""

    async def retry_job(self, tenant: str, job_id: str) -> Job:
        """Queue again a dead, cancelled or expired job, with fresh attempts."""

    async def claim_jobs(
        self, model: str, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        """Mark up to `limit` runnable jobs `running` for this worker; highest priority first."""

    async def claim_jobs_by_id(
        self, job_ids: list[str], worker_id: str, lease_seconds: float
    ) -> list[Job]:
        """Claim these jobs where they are runnable now; the others are left as they are."""

    async def bury_poison(self, deliveries: dict[str, int]) -> list[Job]:
        """Waiting jobs whose queue message was delivered (job id -> count) more times than
        their `max_attempts` become `dead`; returns them."""

    async def runnable_jobs(self, limit: int, waiting_since: float) -> list[tuple[str, str]]:
        """(model, job id) of jobs runnable since `waiting_since` or earlier, oldest first."""

    async def complete_jobs(self, outcomes: list[Outcome], policy: RetryPolicy) -> list[Job]:
        """Record attempt outcomes; stale attempts are dropped. Returns the jobs changed,
        without their input (not needed by callers, and costly to read back)."""

    async def extend_leases(self, worker_id: str, job_ids: list[str], lease_seconds: float) -> None:
        """Heartbeat: keep these running jobs with this worker."""

    async def release_jobs(self, worker_id: str, job_ids: list[str]) -> list[Job]:
        """Give running jobs back to the queue without counting the attempt."""

    async def recover_expired_leases(self, policy: RetryPolicy) -> list[Job]:
        """Running jobs whose worker vanished: retry them, or `dead` when out of attempts."""

    async def expire_overdue(self) -> list[Job]:
        """Jobs whose deadline passed before they ran become `expired`."""

    async def queue_counts(self) -> dict[str, dict[str, int]]:
        """Per model, the number of jobs in each unfinished status."""

    async def status_totals(self, tenant: str | None = None) -> dict[str, int]:
        """Number of jobs in each status (all tenants when None)."""

    async def finished_events(
        self, tenant: str | None, *, since: float | None = None, limit: int = 1000
    ) -> list[JobEvent]:
        """Events that finished a job (succeeded, dead, expired), newest first (all tenants
        when None), at or after `since` when given."""

    async def finished_counts(self, tenant: str | None, since: float) -> dict[str, dict[str, int]]:
        """Per model, how many jobs finished in each final status at or after `since`."""

    async def active_workers(self) -> dict[str, int]:
        """Workers holding an unexpired lease right now, with the number of jobs each holds."""

    async def unpublished_events(self, limit: int) -> list[JobEvent]:
        """Outbox events not yet published, oldest first (per job, in commit order)."""

    async def mark_published(self, seqs: list[int]) -> None:
        """Record that these events reached the event bus."""

    async def job_events(self, tenant: str, job_id: str) -> list[JobEvent]:
        """The timeline of one job."""

    async def prune(
        self, event_retention_seconds: float, job_retention_seconds: float | None
    ) -> int:
        """Delete old events (and finished jobs, when asked). Returns rows deleted."""

    async def record_worker(self, beat: WorkerBeat) -> None:
        """Insert or refresh a worker's heartbeat row."""

    async def remove_worker(self, worker_id: str) -> None:
        """A worker stopped cleanly: forget it."""

    async def live_workers(self, since: float) -> list[WorkerBeat]:
        """Workers whose last heartbeat is at or after `since`, newest first."""
