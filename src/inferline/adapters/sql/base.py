"""What every part of the SQL job store shares: engines, lifecycle, row helpers."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inferline.adapters.sql.engine import SqlConnection, SqlEngine, create_engines
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.adapters.sql.rows import (
    event_values,
    job_from_row,
)
from inferline.adapters.sql.schema import job_events, jobs
from inferline.domain.errors import NotFound, Unavailable
from inferline.domain.jobs import (
    CLAIMABLE_STATUSES,
    Job,
    JobStatus,
)
from inferline.ports.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

WITHOUT_AUTOVACUUM = (
    "autovacuum is off on this PostgreSQL server: every job row is rewritten as it "
    "runs and every event is marked published, so the dead rows of jobs and job_events "
    "pile up and claims, the outbox relay and queue counts slow down as they do "
    "(a 10-minute soak's p99 grew tenfold). Turn autovacuum on, or VACUUM jobs and "
    "job_events every minute or so."
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
    "deadline",  # dropped when a job whose deadline passed is retried
)
_WRITE_BACK = update(jobs).where(jobs.c.id == bindparam("b_id"))
CLAIMABLE = [s.value for s in CLAIMABLE_STATUSES]
UNFINISHED = [JobStatus.QUEUED.value, JobStatus.FAILED.value, JobStatus.RUNNING.value]
CHUNK = 500  # ids per IN (...) clause
STALE_WORKER_SECONDS = 24 * 3600  # heartbeat rows older than this are pruned
FINISHING = [JobStatus.SUCCEEDED.value, JobStatus.DEAD.value, JobStatus.EXPIRED.value]


class SqlStoreBase:
    """Engines, migrations, the clock and the row helpers the store's parts build on."""

    def __init__(self, url: str, *, migrate: bool = True, clock: Clock = SYSTEM_CLOCK) -> None:
        """`clock` gives every time the store records or compares (leases, retries,
        deadlines, timestamps); tests pass a fake one to move time without sleeping."""
        self.url = url
        self.clock = clock
        self._migrate = migrate
        self._writer: SqlEngine | None = None
        self._reader: SqlEngine | None = None
        self.dialect = ""
        self._queue_lock_rows: set[str] = set()  # models whose queue_locks row exists

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        if self._migrate:
            await upgrade_to_head(self.url)
        self._writer, self._reader = create_engines(self.url)
        self.dialect = self._writer.dialect.name
        if self.dialect == "postgresql":
            await self._check_autovacuum()

    async def _check_autovacuum(self) -> None:
        """Say so once, at start, when the server will let the job tables bloat."""
        async with self.reader.connect() as conn:
            row = (await conn.execute(text("SHOW autovacuum"))).first()
        if row is not None and row[0] == "off":
            log.warning(WITHOUT_AUTOVACUUM)

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

    async def _one_for_update(self, conn: SqlConnection, tenant: str, job_id: str) -> Job:
        row = (
            await conn.execute(
                select(jobs).where(jobs.c.id == job_id, jobs.c.tenant == tenant).with_for_update()
            )
        ).first()
        if row is None:
            raise NotFound(f"job {job_id} not found", details={"job_id": job_id})
        return job_from_row(row)

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
        for chunk in chunks(list(job_ids)):
            query = select(*columns).where(jobs.c.id.in_(chunk))
            if lock:
                query = query.with_for_update()
            found.extend(job_from_row(r) for r in await conn.execute(query))
        return found

    def _insert_ignoring_duplicates(self, table: Table) -> Any:
        """INSERT that skips rows whose key exists (per dialect)."""
        if self.dialect == "postgresql":
            return pg_insert(table).on_conflict_do_nothing()
        if self.dialect == "sqlite":
            return sqlite_insert(table).on_conflict_do_nothing()
        if self.dialect in ("mysql", "mariadb"):
            return mysql_insert(table).prefix_with("IGNORE")
        return insert(table)

    async def _write_back(self, conn: SqlConnection, changed: list[Job]) -> None:
        """Persist the mutable columns of jobs the domain changed, and their events."""
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


def chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    """`items` in slices of at most `size` (for IN (...) clauses)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
