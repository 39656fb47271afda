"""The worker side of the SQL job store: claims, outcomes, leases, expiry."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Select, func, select, update

from inferline.adapters.sql.base import CHUNK, CLAIMABLE, SqlStoreBase, chunks
from inferline.adapters.sql.engine import SqlConnection
from inferline.adapters.sql.rows import (
    job_from_row,
)
from inferline.adapters.sql.schema import jobs
from inferline.domain.jobs import (
    CLAIMABLE_STATUSES,
    DEADLINE_PASSED,
    Job,
    JobStatus,
    Outcome,
    OutcomeKind,
    RetryPolicy,
)


class ClaimQueries(SqlStoreBase):
    """What workers do to jobs: claim them, record outcomes, keep and lose leases."""

    async def claim_jobs(
        self, model: str, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        now = time.time()
        values = _claim_values(worker_id, now, lease_seconds)
        async with self.writer.begin() as conn:
            ids = await self._pick_runnable(conn, model, limit, now)
            if not ids:
                return []
            runnable = select(jobs.c.id).where(jobs.c.id.in_(ids))
            if self.dialect in ("sqlite", "postgresql"):
                claimed = await self._claim_returning(conn, runnable, values)
            else:
                claimed = await self._claim_select_update(conn, runnable, values)
            claimed.sort(key=lambda j: (-j.priority, j.id))
            await self._write_events(conn, claimed)
        return claimed

    async def _pick_runnable(
        self, conn: SqlConnection, model: str, limit: int, now: float
    ) -> list[str]:
        """Ids of the next runnable jobs, highest priority first. One index-ordered scan
        per claimable status, then a merge: a single scan over both statuses would sort
        the whole backlog on every claim (ix_jobs_claim is model, status, priority DESC, id)."""
        candidates: list[tuple[str, int]] = []
        for status in CLAIMABLE:
            query = (
                select(jobs.c.id, jobs.c.priority)
                .where(jobs.c.model == model, jobs.c.status == status, *_due_now(now))
                .order_by(jobs.c.priority.desc(), jobs.c.id)
                .limit(limit)
            )
            if self.dialect != "sqlite":  # SQLite's writer already holds the only write lock
                query = query.with_for_update(skip_locked=True)
            candidates += [(job_id, priority) for job_id, priority in await conn.execute(query)]
        candidates.sort(key=lambda c: (-c[1], c[0]))
        return [job_id for job_id, _ in candidates[:limit]]

    async def claim_jobs_by_id(
        self, job_ids: list[str], worker_id: str, lease_seconds: float
    ) -> list[Job]:
        if not job_ids:
            return []
        now = time.time()
        claimed: list[Job] = []
        async with self.writer.begin() as conn:
            for chunk in chunks(sorted(set(job_ids))):
                runnable = select(jobs.c.id).where(jobs.c.id.in_(chunk), *_runnable_now(now))
                values = _claim_values(worker_id, now, lease_seconds)
                if self.dialect in ("sqlite", "postgresql"):
                    claimed += await self._claim_returning(conn, runnable, values)
                else:
                    claimed += await self._claim_select_update(conn, runnable, values)
            await self._write_events(conn, claimed)
        return claimed

    async def bury_poison(self, deliveries: dict[str, int]) -> list[Job]:
        if not deliveries:
            return []
        now = time.time()
        async with self.writer.begin() as conn:
            changed = [
                j
                for j in await self._fetch(conn, list(deliveries), lock=True)
                if j.status in CLAIMABLE_STATUSES and deliveries[j.id] > j.max_attempts
            ]
            for job in changed:
                job.status, job.finished_at, job.updated_at = JobStatus.DEAD, now, now
                job.error = (
                    f"poison message: delivered {deliveries[job.id]} times without "
                    f"being acknowledged (max_attempts {job.max_attempts})"
                )
                job.lease_until = job.worker_id = None
            await self._write_back(conn, changed)
        return changed

    async def runnable_jobs(self, limit: int, waiting_since: float) -> list[tuple[str, str]]:
        query = (
            select(jobs.c.model, jobs.c.id)
            .where(*_runnable_now(waiting_since))
            .order_by(jobs.c.available_at)
            .limit(limit)
        )
        async with self.reader.connect() as conn:
            return [(model, job_id) for model, job_id in await conn.execute(query)]

    async def _claim_returning(
        self, conn: SqlConnection, runnable: Select[Any], values: dict[str, Any]
    ) -> list[Job]:
        if self.dialect == "postgresql":
            runnable = runnable.with_for_update(skip_locked=True)
        stmt = update(jobs).where(jobs.c.id.in_(runnable.scalar_subquery())).values(**values)
        return [job_from_row(r) for r in await conn.execute(stmt.returning(*jobs.c))]

    async def _claim_select_update(
        self, conn: SqlConnection, runnable: Select[Any], values: dict[str, Any]
    ) -> list[Job]:
        ids = list((await conn.execute(runnable.with_for_update(skip_locked=True))).scalars())
        if not ids:
            return []
        await conn.execute(update(jobs).where(jobs.c.id.in_(ids)).values(**values))
        return await self._fetch(conn, ids)

    async def complete_jobs(self, outcomes: list[Outcome], policy: RetryPolicy) -> list[Job]:
        if not outcomes:
            return []
        now = time.time()
        async with self.writer.begin() as conn:
            ids = [o.job_id for o in outcomes]
            current = {j.id: j for j in await self._fetch(conn, ids, lock=True, with_input=False)}
            changed: list[Job] = []
            for outcome in outcomes:
                job = current.get(outcome.job_id)
                if job is None or job.status is not JobStatus.RUNNING:
                    continue  # cancelled meanwhile, or already finished by another attempt
                if job.attempts != outcome.attempt:
                    continue  # a stale worker whose lease was taken over
                _apply_outcome(job, outcome, policy, now)
                changed.append(job)
            await self._write_back(conn, changed)
        return changed

    async def extend_leases(self, worker_id: str, job_ids: list[str], lease_seconds: float) -> None:
        if not job_ids:
            return
        now = time.time()
        async with self.writer.begin() as conn:
            for chunk in chunks(job_ids):
                await conn.execute(
                    update(jobs)
                    .where(
                        jobs.c.id.in_(chunk),
                        jobs.c.worker_id == worker_id,
                        jobs.c.status == JobStatus.RUNNING.value,
                    )
                    .values(lease_until=now + lease_seconds)
                )

    async def release_jobs(self, worker_id: str, job_ids: list[str]) -> list[Job]:
        if not job_ids:
            return []
        now = time.time()
        async with self.writer.begin() as conn:
            changed = []
            for job in await self._fetch(conn, job_ids, lock=True):
                if job.status is JobStatus.RUNNING and job.worker_id == worker_id:
                    job.status, job.attempts = JobStatus.QUEUED, max(0, job.attempts - 1)
                    job.lease_until = job.worker_id = None
                    job.available_at = job.updated_at = now
                    changed.append(job)
            await self._write_back(conn, changed)
        return changed

    async def recover_expired_leases(self, policy: RetryPolicy) -> list[Job]:
        now = time.time()
        lost = (
            select(jobs)
            .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_until < now)
            .limit(CHUNK)
            .with_for_update(skip_locked=True)
        )
        async with self.writer.begin() as conn:
            changed = [job_from_row(r) for r in await conn.execute(lost)]
            for job in changed:
                outcome = Outcome(
                    job.id,
                    job.attempts,
                    OutcomeKind.FAILED,
                    error=f"worker {job.worker_id} lost its lease (crashed or hung)",
                )
                _apply_outcome(job, outcome, policy, now, retry_now=True)
            await self._write_back(conn, changed)
        return changed

    async def expire_overdue(self) -> list[Job]:
        now = time.time()
        overdue = (
            select(jobs)
            .where(jobs.c.status.in_(CLAIMABLE), jobs.c.deadline < now)
            .limit(CHUNK)
            .with_for_update(skip_locked=True)
        )
        async with self.writer.begin() as conn:
            changed = [job_from_row(r) for r in await conn.execute(overdue)]
            for job in changed:
                job.status, job.error = JobStatus.EXPIRED, DEADLINE_PASSED
                job.finished_at = job.updated_at = now
            await self._write_back(conn, changed)
        return changed


def _apply_outcome(
    job: Job, outcome: Outcome, policy: RetryPolicy, now: float, *, retry_now: bool = False
) -> None:
    """Move a running job to the status its attempt's outcome calls for."""
    job.updated_at = now
    job.lease_until = job.worker_id = None
    if outcome.kind is OutcomeKind.SUCCEEDED:
        job.status, job.result, job.error, job.finished_at = (
            JobStatus.SUCCEEDED,
            outcome.result,
            None,
            now,
        )
    elif outcome.kind is OutcomeKind.EXPIRED:
        job.status, job.error, job.finished_at = JobStatus.EXPIRED, outcome.error, now
    else:
        job.status, job.error = policy.after_failure(job.attempts, job.max_attempts), outcome.error
        if job.status is JobStatus.DEAD:
            job.finished_at = now
        else:
            job.available_at = now if retry_now else now + policy.delay(job.attempts)


def _runnable_now(now: float) -> list[Any]:
    """Conditions of a job a worker may start at `now`: waiting, due, not past its deadline."""
    return [jobs.c.status.in_(CLAIMABLE), *_due_now(now)]


def _due_now(now: float) -> list[Any]:
    """A waiting job's time conditions: its backoff has passed, its deadline has not."""
    return [jobs.c.available_at <= now, (jobs.c.deadline.is_(None)) | (jobs.c.deadline > now)]


def _claim_values(worker_id: str, now: float, lease_seconds: float) -> dict[str, Any]:
    """Column values of a job as a worker claims it (one more attempt, leased)."""
    return {
        "status": JobStatus.RUNNING.value,
        "attempts": jobs.c.attempts + 1,
        "worker_id": worker_id,
        "lease_until": now + lease_seconds,
        "updated_at": now,
        "started_at": func.coalesce(jobs.c.started_at, now),
    }
