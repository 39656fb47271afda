"""The job statistics port: counts and finished jobs, for monitors and the dashboard."""

from __future__ import annotations

from typing import Protocol

from inferline.domain.jobs import JobEvent


class JobStatistics(Protocol):
    """Read-only figures over all jobs. Used by the queue monitor and the dashboard."""

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
