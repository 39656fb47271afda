"""The job store on SQLAlchemy Core: SQLite by default, PostgreSQL and MySQL at scale.

Every public method is one transaction. State changes are applied to domain
objects in Python and written back together with their outbox events, so a
result and the event announcing it commit (or vanish) together.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inferline.adapters.sql.engine import SqlConnection, SqlEngine, create_engines
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.adapters.sql.rows import (
    event_from_row,
    event_values,
    job_from_row,
    job_from_values,
    new_job_values,
)
from inferline.adapters.sql.schema import job_events, jobs, workers
from inferline.domain.errors import Conflict, NotFound, Unavailable
from inferline.domain.jobs import (
    CANCELLABLE_STATUSES,
    CLAIMABLE_STATUSES,
    RETRYABLE_STATUSES,
    Job,
    JobEvent,
    JobStatus,
    NewJob,
    Outcome,
    OutcomeKind,
    RetryPolicy,
    WorkerBeat,
)

_MUTABLE = (
    "status",
    "result",
    "error",
    "attempts",
    "updated_at",
    "started_at",
    "finished_at",
    "available_at",
    "lease_until",
    "worker_id",
)
_WRITE_BACK = update(jobs).where(jobs.c.id == bindparam("b_id"))
_CLAIMABLE = [s.value for s in CLAIMABLE_STATUSES]
_UNFINISHED = [JobStatus.QUEUED.value, JobStatus.FAILED.value, JobStatus.RUNNING.value]
_CHUNK = 500  # ids per IN (...) clause
STALE_WORKER_SECONDS = 24 * 3600  # heartbeat rows older than this are pruned
_FINISHING = [JobStatus.SUCCEEDED.value, JobStatus.DEAD.value, JobStatus.EXPIRED.value]


class SqlJobStore:
    """JobStore on any SQLAlchemy async engine."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self._migrate = migrate
        self._writer: SqlEngine | None = None
        self._reader: SqlEngine | None = None
        self.dialect = ""

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        if self._migrate:
            await upgrade_to_head(self.url)
        self._writer, self._reader = create_engines(self.url)
        self.dialect = self._writer.dialect.name

    async def close(self) -> None:
        for engine in {id(e): e for e in (self._writer, self._reader) if e}.values():
            await engine.dispose()
        self._writer = self._reader = None

    @property
    def writer(self) -> SqlEngine:
        if self._writer is None:
            raise Unavailable("the database is not connected yet", retry_after=1.0)
        return self._writer

    @property
    def reader(self) -> SqlEngine:
        if self._reader is None:
            raise Unavailable("the database is not connected yet", retry_after=1.0)
        return self._reader

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    # -- submitting ------------------------------------------------------------
    async def create_jobs(self, new_jobs: list[NewJob]) -> list[tuple[Job, bool]]:
        now = time.time()
        async with self.writer.begin() as conn:
            existing = await self._existing_by_key(conn, new_jobs)
            fresh: dict[tuple[str, str | None], NewJob] = {}
            to_insert: list[NewJob] = []
            for job in new_jobs:
                key = (job.tenant, job.idempotency_key)
                if job.idempotency_key is not None and (key in existing or key in fresh):
                    continue
                if job.idempotency_key is not None:
                    fresh[key] = job
                to_insert.append(job)
            rows = [new_job_values(j, now) for j in to_insert]
            if rows:
                await conn.execute(self._insert_ignoring_duplicates(), rows)
            stored = {row["id"]: job_from_values(row) for row in rows}
            if fresh:  # a keyed insert loses to a concurrent one with the same key
                kept = {j.id for j in await self._fetch(conn, [j.id for j in fresh.values()])}
                for job in fresh.values():
                    if job.id not in kept:
                        del stored[job.id]
            winners = await self._existing_by_key(conn, new_jobs) if fresh else existing
            created = [stored[j.id] for j in to_insert if j.id in stored]
            await self._write_events(conn, created)
        results: list[tuple[Job, bool]] = []
        for job in new_jobs:
            if job.id in stored:
                results.append((stored[job.id], True))
            else:
                results.append((winners[(job.tenant, job.idempotency_key)], False))
        return results

    def _insert_ignoring_duplicates(self) -> Any:
        if self.dialect == "postgresql":
            return pg_insert(jobs).on_conflict_do_nothing()
        if self.dialect == "sqlite":
            return sqlite_insert(jobs).on_conflict_do_nothing()
        if self.dialect in ("mysql", "mariadb"):
            return mysql_insert(jobs).prefix_with("IGNORE")
        return insert(jobs)

    async def _existing_by_key(
        self, conn: SqlConnection, new_jobs: Iterable[NewJob]
    ) -> dict[tuple[str, str | None], Job]:
        by_tenant: dict[str, set[str]] = {}
        for job in new_jobs:
            if job.idempotency_key is not None:
                by_tenant.setdefault(job.tenant, set()).add(job.idempotency_key)
        found: dict[tuple[str, str | None], Job] = {}
        for tenant, keys in by_tenant.items():
            for chunk in _chunks(sorted(keys)):
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

    async def queue_counts(self) -> dict[str, dict[str, int]]:
        query = (
            select(jobs.c.model, jobs.c.status, func.count())
            .where(jobs.c.status.in_(_UNFINISHED))
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
        query = select(job_events).where(job_events.c.status.in_(_FINISHING))
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
            .where(job_events.c.status.in_(_FINISHING), job_events.c.at >= since)
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
            .where(jobs.c.status == JobStatus.RUNNING.value, jobs.c.lease_until > time.time())
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

    # -- client state changes --------------------------------------------------
    async def cancel_job(self, tenant: str, job_id: str) -> Job:
        async with self.writer.begin() as conn:
            job = await self._one_for_update(conn, tenant, job_id)
            if job.status not in CANCELLABLE_STATUSES:
                raise Conflict(
                    f"job {job_id} is {job.status.value}; only unfinished jobs can be cancelled",
                    details={"status": job.status.value},
                )
            now = time.time()
            job.status, job.finished_at, job.updated_at = JobStatus.CANCELLED, now, now
            job.lease_until = job.worker_id = None
            await self._write_back(conn, [job])
        return job

    async def retry_job(self, tenant: str, job_id: str) -> Job:
        async with self.writer.begin() as conn:
            job = await self._one_for_update(conn, tenant, job_id)
            if job.status not in RETRYABLE_STATUSES:
                raise Conflict(
                    f"job {job_id} is {job.status.value}; only dead, cancelled or expired jobs "
                    "can be retried",
                    details={"status": job.status.value},
                )
            now = time.time()
            job.status, job.attempts, job.error = JobStatus.QUEUED, 0, None
            job.finished_at, job.available_at, job.updated_at = None, now, now
            if job.deadline is not None and job.deadline <= now:
                job.deadline = None
                await conn.execute(update(jobs).where(jobs.c.id == job.id).values(deadline=None))
            await self._write_back(conn, [job])
        return job

    async def _one_for_update(self, conn: SqlConnection, tenant: str, job_id: str) -> Job:
        row = (
            await conn.execute(
                select(jobs).where(jobs.c.id == job_id, jobs.c.tenant == tenant).with_for_update()
            )
        ).first()
        if row is None:
            raise NotFound(f"job {job_id} not found", details={"job_id": job_id})
        return job_from_row(row)

    # -- worker side -----------------------------------------------------------
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
        for status in _CLAIMABLE:
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
            for chunk in _chunks(sorted(set(job_ids))):
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
            for chunk in _chunks(job_ids):
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
            .limit(_CHUNK)
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
            .where(jobs.c.status.in_(_CLAIMABLE), jobs.c.deadline < now)
            .limit(_CHUNK)
            .with_for_update(skip_locked=True)
        )
        async with self.writer.begin() as conn:
            changed = [job_from_row(r) for r in await conn.execute(overdue)]
            for job in changed:
                job.status, job.error = JobStatus.EXPIRED, "deadline passed before the job ran"
                job.finished_at = job.updated_at = now
            await self._write_back(conn, changed)
        return changed

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
        now = time.time()
        async with self.writer.begin() as conn:
            for chunk in _chunks(seqs):
                await conn.execute(
                    update(job_events).where(job_events.c.seq.in_(chunk)).values(published_at=now)
                )

    async def prune(
        self, event_retention_seconds: float, job_retention_seconds: float | None
    ) -> int:
        now = time.time()
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

    # -- helpers ---------------------------------------------------------------
    async def _fetch(
        self,
        conn: SqlConnection,
        job_ids: Sequence[str],
        *,
        lock: bool = False,
        with_input: bool = True,
    ) -> list[Job]:
        """Jobs by id; `with_input=False` skips reading (and decoding) the inputs, which
        may be large, and gives jobs whose `input` is empty."""
        columns = jobs.c if with_input else [c for c in jobs.c if c.name != "input"]
        found: list[Job] = []
        for chunk in _chunks(list(job_ids)):
            query = select(*columns).where(jobs.c.id.in_(chunk))
            if lock:
                query = query.with_for_update()
            found.extend(job_from_row(r) for r in await conn.execute(query))
        return found

    async def _write_back(self, conn: SqlConnection, changed: list[Job]) -> None:
        """Persist the mutable columns of changed jobs and their events."""
        if not changed:
            return
        params = [{"b_id": j.id, **{c: getattr(j, c) for c in _MUTABLE}} for j in changed]
        for row in params:
            row["status"] = row["status"].value
        await conn.execute(_WRITE_BACK, params)
        await self._write_events(conn, changed)

    async def _write_events(self, conn: SqlConnection, changed: list[Job]) -> None:
        if changed:
            await conn.execute(insert(job_events), [event_values(j) for j in changed])


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
    return [jobs.c.status.in_(_CLAIMABLE), *_due_now(now)]


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


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
