"""Read-mostly queries of the SQL job store for monitors, the dashboard and heartbeats."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update

from inferline.adapters.sql.base import FINISHING, UNFINISHED, SqlStoreBase
from inferline.adapters.sql.rows import (
    event_from_row,
)
from inferline.adapters.sql.schema import job_events, jobs, workers
from inferline.domain.jobs import (
    JobEvent,
    JobStatus,
    WorkerBeat,
)


class MonitoringQueries(SqlStoreBase):
    """Counts, recent finished jobs, lease holders and worker heartbeats."""

    async def queue_counts(self) -> dict[str, dict[str, int]]:
        query = (
            select(jobs.c.model, jobs.c.status, func.count())
            .where(jobs.c.status.in_(UNFINISHED))
            .group_by(jobs.c.model, jobs.c.status)
        )
        counts: dict[str, dict[str, int]] = {}
        async with self.reader.connect() as conn:
            for model, status, count in await conn.execute(query):
                counts.setdefault(model, {})[status] = count
        return counts

    async def status_totals(self, tenant: str | None = None) -> dict[str, int]:
        query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
        if tenant is not None:
            query = query.where(jobs.c.tenant == tenant)
        async with self.reader.connect() as conn:
            return {status: count for status, count in await conn.execute(query)}

    async def job_events(self, tenant: str, job_id: str) -> list[JobEvent]:
        query = (
            select(job_events)
            .where(job_events.c.job_id == job_id, job_events.c.tenant == tenant)
            .order_by(job_events.c.seq)
        )
        async with self.reader.connect() as conn:
            return [event_from_row(r) for r in await conn.execute(query)]

    async def finished_events(
        self, tenant: str | None, *, since: float | None = None, limit: int = 1000
    ) -> list[JobEvent]:
        query = select(job_events).where(job_events.c.status.in_(FINISHING))
        if tenant is not None:
            query = query.where(job_events.c.tenant == tenant)
        if since is not None:
            query = query.where(job_events.c.at >= since)
        query = query.order_by(job_events.c.seq.desc()).limit(limit)
        async with self.reader.connect() as conn:
            return [event_from_row(r) for r in await conn.execute(query)]

    async def finished_counts(self, tenant: str | None, since: float) -> dict[str, dict[str, int]]:
        query = (
            select(job_events.c.model, job_events.c.status, func.count())
            .where(job_events.c.status.in_(FINISHING), job_events.c.at >= since)
            .group_by(job_events.c.model, job_events.c.status)
        )
        if tenant is not None:
            query = query.where(job_events.c.tenant == tenant)
        counts: dict[str, dict[str, int]] = {}
        async with self.reader.connect() as conn:
            for model, status, count in await conn.execute(query):
                counts.setdefault(model, {})[status] = count
        return counts

    async def active_workers(self) -> dict[str, int]:
        query = (
            select(jobs.c.worker_id, func.count())
            .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_until > self.clock.now())
            .group_by(jobs.c.worker_id)
        )
        async with self.reader.connect() as conn:
            return {worker: count for worker, count in await conn.execute(query) if worker}

    # -- worker heartbeats ------------------------------------------------------
    async def record_worker(self, beat: WorkerBeat) -> None:
        values = {
            "host": beat.host,
            "pid": beat.pid,
            "models": beat.models,
            "in_flight": beat.in_flight,
            "started_at": beat.started_at,
            "heartbeat_at": beat.heartbeat_at,
        }
        async with self.writer.begin() as conn:
            result = await conn.execute(
                update(workers).where(workers.c.id == beat.id).values(**values)
            )
            if not result.rowcount:  # first beat of this worker (ids are unique per process)
                await conn.execute(insert(workers).values(id=beat.id, **values))

    async def remove_worker(self, worker_id: str) -> None:
        async with self.writer.begin() as conn:
            await conn.execute(delete(workers).where(workers.c.id == worker_id))

    async def live_workers(self, since: float) -> list[WorkerBeat]:
        query = (
            select(workers)
            .where(workers.c.heartbeat_at >= since)
            .order_by(workers.c.heartbeat_at.desc())
        )
        async with self.reader.connect() as conn:
            return [WorkerBeat(**dict(row._mapping)) for row in await conn.execute(query)]
