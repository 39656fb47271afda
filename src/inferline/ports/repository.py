"""The job repository port: what clients do to their jobs (submit, read, cancel, retry)."""

from __future__ import annotations

from typing import Protocol

from inferline.domain.jobs import Job, JobEvent, JobStatus, NewJob, QueueFull


class JobRepository(Protocol):
    """Jobs as their owners see them; each method is one transaction. Used by `JobService`."""

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

    async def job_events(self, tenant: str, job_id: str) -> list[JobEvent]:
        """The timeline of one job, oldest first."""
