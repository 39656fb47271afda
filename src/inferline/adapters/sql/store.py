"""The job store on SQLAlchemy Core: SQLite by default, PostgreSQL and MySQL at scale.

Every public method is one transaction. State changes are decided by the domain
(`Job`'s lifecycle methods) on jobs loaded under a row lock, and written back
together with their outbox events, so a result and the event announcing it
commit (or vanish) together. Times come from the injected clock (`self.clock`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select, update

from inferline.adapters.sql.admission import AdmissionQueries
from inferline.adapters.sql.base import STALE_WORKER_SECONDS, chunks
from inferline.adapters.sql.claims import ClaimQueries
from inferline.adapters.sql.engine import SqlConnection
from inferline.adapters.sql.monitoring import MonitoringQueries
from inferline.adapters.sql.rows import (
    event_from_row,
    job_from_row,
    job_from_values,
    new_job_values,
)
from inferline.adapters.sql.schema import job_events, jobs, workers
from inferline.domain.jobs import (
    Job,
    JobEvent,
    JobStatus,
    NewJob,
    QueueFull,
)


class SqlJobStore(AdmissionQueries, ClaimQueries, MonitoringQueries):
    """JobStore on any SQLAlchemy async engine; `SqlJobStore(url, clock=...)` reads
    time from `clock` (default: the system clock)."""

    # -- submitting ------------------------------------------------------------
    async def create_jobs(
        self,
        new_jobs: list[NewJob],
        *,
        max_waiting: int | None = None,
        all_or_nothing: bool = False,
    ) -> list[tuple[Job, bool] | QueueFull]:
        now = self.clock.now()
        if max_waiting is not None:
            await self._ensure_queue_locks({job.model for job in new_jobs})
        async with self.writer.begin() as conn:
            existing = await self._existing_by_key(conn, new_jobs)
            refused: dict[str, QueueFull] = {}
            if max_waiting is not None:
                refused = await self._over_limit(
                    conn, new_jobs, existing, max_waiting, all_or_nothing
                )
            fresh: dict[tuple[str, str | None], NewJob] = {}
            to_insert: list[NewJob] = []
            for job in new_jobs:
                key = (job.tenant, job.idempotency_key)
                if job.id in refused:
                    continue
                if job.idempotency_key is not None and (key in existing or key in fresh):
                    continue
                if job.idempotency_key is not None:
                    fresh[key] = job
                to_insert.append(job)
            rows = [new_job_values(j, now) for j in to_insert]
            if rows:
                await conn.execute(self._insert_ignoring_duplicates(jobs), rows)
            stored = {row["id"]: job_from_values(row) for row in rows}
            if fresh:  # a keyed insert loses to a concurrent one with the same key
                kept = {j.id for j in await self._fetch(conn, [j.id for j in fresh.values()])}
                for job in fresh.values():
                    if job.id not in kept:
                        del stored[job.id]
            winners = await self._existing_by_key(conn, new_jobs) if fresh else existing
            created = [stored[j.id] for j in to_insert if j.id in stored]
            await self._write_events(conn, created)
        results: list[tuple[Job, bool] | QueueFull] = []
        for job in new_jobs:
            if job.id in refused:
                results.append(refused[job.id])
            elif job.id in stored:
                results.append((stored[job.id], True))
            else:
                results.append((winners[(job.tenant, job.idempotency_key)], False))
        return results

    async def _existing_by_key(
        self, conn: SqlConnection, new_jobs: Iterable[NewJob]
    ) -> dict[tuple[str, str | None], Job]:
        by_tenant: dict[str, set[str]] = {}
        for job in new_jobs:
            if job.idempotency_key is not None:
                by_tenant.setdefault(job.tenant, set()).add(job.idempotency_key)
        found: dict[tuple[str, str | None], Job] = {}
        for tenant, keys in by_tenant.items():
            for chunk in chunks(sorted(keys)):
                rows = await conn.execute(
                    select(jobs).where(jobs.c.tenant == tenant, jobs.c.idempotency_key.in_(chunk))
                )
                for row in rows:
                    stored = job_from_row(row)
                    found[(stored.tenant, stored.idempotency_key)] = stored
        return found

    # -- reading ---------------------------------------------------------------
    async def get_job(self, tenant: str, job_id: str) -> Job | None:
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(select(jobs).where(jobs.c.id == job_id, jobs.c.tenant == tenant))
            ).first()
        return job_from_row(row) if row else None

    async def list_jobs(
        self,
        tenant: str,
        *,
        status: JobStatus | None = None,
        model: str | None = None,
        limit: int = 50,
        before_id: str | None = None,
    ) -> list[Job]:
        query = select(jobs).where(jobs.c.tenant == tenant)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        if model is not None:
            query = query.where(jobs.c.model == model)
        if before_id is not None:
            query = query.where(jobs.c.id < before_id)
        query = query.order_by(jobs.c.id.desc()).limit(limit)
        async with self.reader.connect() as conn:
            return [job_from_row(r) for r in await conn.execute(query)]

    # -- client state changes --------------------------------------------------
    async def cancel_job(self, tenant: str, job_id: str) -> Job:
        async with self.writer.begin() as conn:
            job = await self._one_for_update(conn, tenant, job_id)
            job.cancel(self.clock.now())  # InvalidTransition (a Conflict) when finished
            await self._write_back(conn, [job])
        return job

    async def retry_job(self, tenant: str, job_id: str) -> Job:
        async with self.writer.begin() as conn:
            job = await self._one_for_update(conn, tenant, job_id)
            job.retry(self.clock.now())  # InvalidTransition (a Conflict) unless it ended badly
            await self._write_back(conn, [job])
        return job

    # -- outbox ----------------------------------------------------------------
    async def unpublished_events(self, limit: int) -> list[JobEvent]:
        query = (
            select(job_events)
            .where(job_events.c.published_at.is_(None))
            .order_by(job_events.c.seq)
            .limit(limit)
        )
        async with self.reader.connect() as conn:
            return [event_from_row(r) for r in await conn.execute(query)]

    async def mark_published(self, seqs: list[int]) -> None:
        if not seqs:
            return
        now = self.clock.now()
        async with self.writer.begin() as conn:
            for chunk in chunks(seqs):
                await conn.execute(
                    update(job_events).where(job_events.c.seq.in_(chunk)).values(published_at=now)
                )

    async def prune(
        self, event_retention_seconds: float, job_retention_seconds: float | None
    ) -> int:
        now = self.clock.now()
        async with self.writer.begin() as conn:
            result = await conn.execute(
                delete(job_events).where(
                    job_events.c.published_at.is_not(None),
                    job_events.c.at < now - event_retention_seconds,
                )
            )
            deleted = result.rowcount or 0
            result = await conn.execute(  # rows of workers that died without saying so
                delete(workers).where(workers.c.heartbeat_at < now - STALE_WORKER_SECONDS)
            )
            deleted += result.rowcount or 0
            if job_retention_seconds is not None:
                result = await conn.execute(
                    delete(jobs).where(
                        jobs.c.status.in_([s.value for s in JobStatus if s.is_terminal]),
                        jobs.c.finished_at < now - job_retention_seconds,
                    )
                )
                deleted += result.rowcount or 0
        return deleted
