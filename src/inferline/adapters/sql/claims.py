"""The worker side of the SQL job store: claims, outcomes, leases, expiry.

The domain decides every change (`Job.complete`, `.lose_lease`, `.expire`,
`.release`, `.bury`): these methods load and lock the jobs, call it, and write
the jobs back with their events. Two statements stay set-based SQL, because they
run for every job at 1,000+ jobs/s and a load-change-save round trip per row
would cost a multiple of their time (MySQL drivers run an UPDATE per row):
claims (`Job.start` as one `UPDATE ... RETURNING`, see `_claim_values`) and
lease heartbeats (`extend_leases`). tests/integration/test_store_lifecycle.py
checks that a claim changes a job exactly as `Job.start` does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select, update

from inferline.adapters.sql.base import CHUNK, CLAIMABLE, SqlStoreBase, chunks
from inferline.adapters.sql.engine import SqlConnection
from inferline.adapters.sql.rows import (
    job_from_row,
)
from inferline.adapters.sql.schema import jobs
from inferline.domain.jobs import Job, JobStatus, Outcome, RetryPolicy


class ClaimQueries(SqlStoreBase):
    """What workers do to jobs: claim them, record outcomes, keep and lose leases."""

    async def claim_jobs(
        self, model: str, limit: int, worker_id: str, lease_seconds: float
    ) -> list[Job]:
        now = self.clock.now()
        values = _claim_values(worker_id, now + lease_seconds, now)
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
        now = self.clock.now()
        claimed: list[Job] = []
        async with self.writer.begin() as conn:
            for chunk in chunks(sorted(set(job_ids))):
                runnable = select(jobs.c.id).where(jobs.c.id.in_(chunk), *_runnable_now(now))
                values = _claim_values(worker_id, now + lease_seconds, now)
                if self.dialect in ("sqlite", "postgresql"):
                    claimed += await self._claim_returning(conn, runnable, values)
                else:
                    claimed += await self._claim_select_update(conn, runnable, values)
            await self._write_events(conn, claimed)
        return claimed

    async def bury_poison(self, deliveries: dict[str, int]) -> list[Job]:
        if not deliveries:
            return []
        now = self.clock.now()
        async with self.writer.begin() as conn:
            changed = [
                j
                for j in await self._fetch(conn, list(deliveries), lock=True)
                if j.is_poison(deliveries[j.id])
            ]
            for job in changed:
                job.bury(deliveries[job.id], now)
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
        now = self.clock.now()
        async with self.writer.begin() as conn:
            ids = [o.job_id for o in outcomes]
            current = {j.id: j for j in await self._fetch(conn, ids, lock=True, with_input=False)}
            changed: list[Job] = []
            for outcome in outcomes:
                job = current.get(outcome.job_id)
                # Dropped: gone, cancelled meanwhile, finished by another attempt, or a
                # stale worker whose lease was taken over (the fence).
                if job is not None and job.accepts(outcome):
                    job.complete(outcome, policy, now)
                    changed.append(job)
            await self._write_back(conn, changed)
        return changed

    async def extend_leases(self, worker_id: str, job_ids: list[str], lease_seconds: float) -> None:
        """Set-based: a heartbeat changes no status, only the lease end of the jobs
        `Job.held_by` this worker (the WHERE clause below)."""
        if not job_ids:
            return
        now = self.clock.now()
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
        now = self.clock.now()
        async with self.writer.begin() as conn:
            changed = [
                j for j in await self._fetch(conn, job_ids, lock=True) if j.held_by(worker_id)
            ]
            for job in changed:
                job.release(worker_id, now)
            await self._write_back(conn, changed)
        return changed

    async def recover_expired_leases(self, policy: RetryPolicy) -> list[Job]:
        now = self.clock.now()
        lost = (  # the rows `Job.lease_expired` at `now`, a chunk at a time
            select(jobs)
            .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_until < now)
            .limit(CHUNK)
            .with_for_update(skip_locked=True)
        )
        async with self.writer.begin() as conn:
            changed = [job_from_row(r) for r in await conn.execute(lost)]
            for job in changed:
                job.lose_lease(policy, now)
            await self._write_back(conn, changed)
        return changed

    async def expire_overdue(self) -> list[Job]:
        now = self.clock.now()
        overdue = (  # waiting jobs whose deadline passed, a chunk at a time
            select(jobs)
            .where(jobs.c.status.in_(CLAIMABLE), jobs.c.deadline < now)
            .limit(CHUNK)
            .with_for_update(skip_locked=True)
        )
        async with self.writer.begin() as conn:
            changed = [job_from_row(r) for r in await conn.execute(overdue)]
            for job in changed:
                job.expire(now)
            await self._write_back(conn, changed)
        return changed


def _runnable_now(now: float) -> list[Any]:
    """`Job.runnable_at(now)` as SQL: waiting, due, not past its deadline."""
    return [jobs.c.status.in_(CLAIMABLE), *_due_now(now)]


def _due_now(now: float) -> list[Any]:
    """A waiting job's time conditions: its backoff has passed, its deadline has not."""
    return [jobs.c.available_at <= now, (jobs.c.deadline.is_(None)) | (jobs.c.deadline > now)]


def _claim_values(worker_id: str, lease_until: float, now: float) -> dict[str, Any]:
    """`Job.start(worker_id, lease_until, now)` as the SET clause of one UPDATE of many
    rows: `running`, one more attempt, leased, `started_at` kept from a first attempt."""
    return {
        "status": JobStatus.RUNNING.value,
        "attempts": jobs.c.attempts + 1,
        "worker_id": worker_id,
        "lease_until": lease_until,
        "updated_at": now,
        "started_at": func.coalesce(jobs.c.started_at, now),
    }
