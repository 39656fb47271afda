"""Exact queue admission in the SQL job store: count a model's waiting jobs in turn.

`create_jobs(..., max_waiting=n)` counts inside its write transaction while holding
the model's turn: SQLite's writer lock (BEGIN IMMEDIATE, one writer database-wide),
or elsewhere `SELECT ... FOR UPDATE` on the model's `queue_locks` row, so two
admissions of one model, in any processes, never count the same free place.
"""

from __future__ import annotations

from sqlalchemy import func, select

from inferline.adapters.sql.base import CLAIMABLE, SqlStoreBase
from inferline.adapters.sql.engine import SqlConnection
from inferline.adapters.sql.schema import jobs, queue_locks
from inferline.domain.jobs import Job, NewJob, QueueFull


class AdmissionQueries(SqlStoreBase):
    """Which new jobs fit in their models' queues, decided in the submit transaction."""

    async def _over_limit(
        self,
        conn: SqlConnection,
        new_jobs: list[NewJob],
        existing: dict[tuple[str, str | None], Job],
        max_waiting: int,
        all_or_nothing: bool,
    ) -> dict[str, QueueFull]:
        """The new jobs (by id) that would take their model past `max_waiting` waiting
        jobs, in order. A job whose key exists is not new; a repeat of a key in this
        call shares the fate of its first job."""
        room = await self._room(conn, sorted({job.model for job in new_jobs}), max_waiting)
        first_of_key: dict[tuple[str, str | None], NewJob] = {}
        repeats: list[tuple[NewJob, NewJob]] = []
        new: list[NewJob] = []
        for job in new_jobs:
            key = (job.tenant, job.idempotency_key)
            if job.idempotency_key is not None:
                if key in existing:
                    continue
                if key in first_of_key:
                    repeats.append((job, first_of_key[key]))
                    continue
                first_of_key[key] = job
            new.append(job)
        refused: dict[str, QueueFull] = {}
        for job in new:
            if room[job.model] > 0:
                room[job.model] -= 1
            else:
                refused[job.id] = QueueFull(job.model, max_waiting)
        if refused and all_or_nothing:
            refused = {job.id: QueueFull(job.model, max_waiting) for job in new}
        for repeat, first in repeats:
            if first.id in refused:
                refused[repeat.id] = refused[first.id]
        return refused

    async def _room(
        self, conn: SqlConnection, models: list[str], max_waiting: int
    ) -> dict[str, int]:
        """Places left per model, counted while holding the models' queue locks (on SQLite,
        the writer's lock), so that no other admission counts or inserts meanwhile."""
        if self.dialect != "sqlite":
            await conn.execute(
                select(queue_locks.c.model)
                .where(queue_locks.c.model.in_(models))
                .order_by(queue_locks.c.model)
                .with_for_update()
            )
        counts = await conn.execute(
            select(jobs.c.model, func.count())
            .where(jobs.c.model.in_(models), jobs.c.status.in_(CLAIMABLE))
            .group_by(jobs.c.model)
        )
        waiting = {model: count for model, count in counts}
        return {model: max_waiting - waiting.get(model, 0) for model in models}

    async def _ensure_queue_locks(self, models: set[str]) -> None:
        """Create missing lock rows in their own transaction: inserting a row that exists
        takes a shared lock on MySQL, which a FOR UPDATE in the same transaction would
        then wait for behind another transaction's (a deadlock)."""
        missing = models - self._queue_lock_rows
        if self.dialect == "sqlite" or not missing:
            return
        async with self.writer.begin() as conn:
            await conn.execute(
                self._insert_ignoring_duplicates(queue_locks),
                [{"model": model} for model in sorted(missing)],
            )
        self._queue_lock_rows |= missing
