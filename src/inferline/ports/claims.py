"""The claim queue: how workers take jobs, report how attempts ended and hold leases.

Two levels. `ClaimQueue` is the store's side, one transaction a call, for any
worker (it names the worker). `JobSource` is one worker's view: it claims for that
worker, from the store itself or from a queue of job ids (`worker/sources.py`),
and is told when outcomes are committed so that a queue can acknowledge.
"""

from __future__ import annotations

from typing import Protocol

from inferline.domain.jobs import Job, Outcome, RetryPolicy


class ClaimQueue(Protocol):
    """Claims, outcomes, leases, recovery and expiry of jobs, decided by the domain's
    lifecycle methods at the store's clock. Used by workers, job sources and the queue
    dispatcher's sweep."""

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


class JobSource(Protocol):
    """Claims runnable jobs for one worker and hears when their outcomes are committed."""

    blocks: bool
    """True when `claim` itself waits for work (no polling pause needed)."""

    async def claim(self, model: str, limit: int) -> list[Job]:
        """Up to `limit` jobs of `model`, claimed in the store for this worker."""

    async def settle(self, job_ids: list[str]) -> None:
        """The outcomes of these jobs are committed (or they were released)."""

    async def touch(self, job_ids: list[str]) -> None:
        """Heartbeat for jobs still in flight."""

    async def maintain(self) -> int:
        """Periodic upkeep; returns how many jobs became claimable for this worker."""

    def adopt(self, jobs: list[Job]) -> None:
        """Jobs this worker just made runnable again (a dead worker's): take them first."""
