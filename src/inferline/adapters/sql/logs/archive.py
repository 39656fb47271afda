"""`LogArchive` on SQLAlchemy Core: SQLite (the embedded default), PostgreSQL, MariaDB.

A batch is one multi-row insert (`executemany`) in one transaction: the pipeline's
target is 20,000 lines a second on two cores, so a line comes ready to store, hashed
where it was mined, and nothing is done per line here beyond its row. Reads are keyset
pages over an index that ends in `seq` (bounded memory however large the day), counts
and duplicates are left to the database. Pruning walks the table from its oldest `seq`
in bounded deletes: lines arrive in `seq` order, so the oldest received are the first
rows of the primary key.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select

from inferline.adapters.sql.logs.archive_schema import log_records
from inferline.adapters.sql.logs.database import Engines, LogsDatabase, Migrate, SharedEngines
from inferline.adapters.sql.threaded import ThreadedConnection
from inferline.ports.log_archive import (
    ArchivedRecord,
    ArchiveLine,
    DuplicateStats,
    GroupCount,
    TimeColumn,
)

PRUNE_BATCH = 10_000

_READ_COLUMNS = (
    log_records.c.seq,
    log_records.c.timestamp,
    log_records.c.received_at,
    log_records.c.service,
    log_records.c.level,
    log_records.c.message,
    log_records.c.template_id,
    log_records.c.trace_id,
    log_records.c.record_hash,
)


_SQLITE_COLUMNS = ("tenant", "received_at", *ArchiveLine._fields)
_SQLITE_INSERT = (
    f"INSERT INTO {log_records.name} ({', '.join(_SQLITE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _SQLITE_COLUMNS)})"
)
_ATTRIBUTES = ArchiveLine._fields.index("attributes")


def _sqlite_row(tenant: str, received: float, line: ArchiveLine) -> tuple[Any, ...]:
    """The row of `_SQLITE_INSERT`: the JSON column as SQLAlchemy's JSON type writes it
    on SQLite (`json.dumps`), the rest as it is."""
    attributes = line.attributes
    encoded = json.dumps(attributes) if attributes else None
    return (tenant, received, *line[:_ATTRIBUTES], encoded, *line[_ATTRIBUTES + 1 :])


def archived(row: Any) -> ArchivedRecord:
    return ArchivedRecord(
        seq=int(row.seq),
        timestamp=float(row.timestamp),
        received_at=float(row.received_at),
        service=row.service,
        level=row.level,
        message=row.message,
        template_id=row.template_id,
        trace_id=row.trace_id,
        record_hash=row.record_hash,
    )


class SqlLogArchive(LogsDatabase):
    """`LogArchive` on the `log_records` table."""

    def __init__(
        self,
        url: str,
        engines: Engines | SharedEngines,
        migrate: Migrate,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(url, engines, migrate)
        self._clock = clock

    async def append(
        self,
        tenant: str,
        lines: Sequence[ArchiveLine],
        *,
        received_at: float | None = None,
    ) -> int:
        if not lines:
            return 0
        received = self._clock() if received_at is None else received_at
        async with self.writer.begin() as conn:
            if isinstance(conn, ThreadedConnection):  # SQLite's driver: plain tuples
                rows = [_sqlite_row(tenant, received, line) for line in lines]
                await conn.execute_many(_SQLITE_INSERT, rows)
            else:
                dicts = [
                    {**line._asdict(), "tenant": tenant, "received_at": received} for line in lines
                ]
                await conn.execute(insert(log_records), dicts)
        return len(lines)

    async def chunks(
        self,
        tenant: str,
        start: float,
        end: float,
        *,
        by: TimeColumn = "timestamp",
        size: int = 50_000,
    ) -> AsyncIterator[list[ArchivedRecord]]:
        if size < 1:
            raise ValueError(f"chunk size must be at least 1, not {size}")
        column, seq = log_records.c[by], log_records.c.seq
        base = (
            select(*_READ_COLUMNS)
            .where(log_records.c.tenant == tenant, column >= start, column < end)
            .order_by(column, seq)
            .limit(size)
        )
        after: tuple[float, int] | None = None
        while True:
            query = base
            if after is not None:
                query = query.where(
                    or_(column > after[0], and_(column == after[0], seq > after[1]))
                )
            async with self.reader.connect() as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                return
            page = [archived(row) for row in rows]
            yield page
            if len(page) < size:
                return
            last = page[-1]
            after = (last.received_at if by == "received_at" else last.timestamp, last.seq)

    async def counts(self, tenant: str, start: float, end: float) -> list[GroupCount]:
        c = log_records.c
        query = (
            select(c.service, c.level, c.template_id, func.count().label("n"))
            .where(c.tenant == tenant, c.timestamp >= start, c.timestamp < end)
            .group_by(c.service, c.level, c.template_id)
        )
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [GroupCount(r.service, r.level, r.template_id, int(r.n)) for r in rows]

    async def duplicates(
        self, tenant: str, start: float, end: float, *, by: TimeColumn, examples: int = 5
    ) -> DuplicateStats:
        c = log_records.c
        in_range = and_(c.tenant == tenant, c[by] >= start, c[by] < end)
        totals = select(func.count(), func.count(func.distinct(c.record_hash))).where(in_range)
        repeated = (
            select(c.record_hash, func.count().label("n"))
            .where(in_range)
            .group_by(c.record_hash)
            .having(func.count() > 1)
            .order_by(func.count().desc(), c.record_hash)
            .limit(examples)
        )
        async with self.reader.connect() as conn:
            total = (await conn.execute(totals)).first()
            top = (await conn.execute(repeated)).all() if examples > 0 else []
            samples: dict[str, ArchivedRecord] = {}
            if top:
                rows = (
                    await conn.execute(
                        select(*_READ_COLUMNS)
                        .where(in_range, c.record_hash.in_([r.record_hash for r in top]))
                        .order_by(c.seq)
                    )
                ).all()
                for row in rows:
                    samples.setdefault(row.record_hash, archived(row))
        records, distinct = (int(total[0]), int(total[1])) if total else (0, 0)
        return DuplicateStats(
            records=records,
            duplicates=records - distinct,
            examples=[(samples[r.record_hash], int(r.n)) for r in top if r.record_hash in samples],
        )

    async def _all_tenants(self, conn: Any) -> list[str]:
        """Every tenant, one index seek each (a loose index scan: no full-table DISTINCT)."""
        found: list[str] = []
        while True:
            query = select(func.min(log_records.c.tenant))
            if found:
                query = query.where(log_records.c.tenant > found[-1])
            row = (await conn.execute(query)).first()
            if row is None or row[0] is None:
                return found
            found.append(row[0])

    async def tenants(self, start: float, end: float, *, by: TimeColumn) -> list[str]:
        column = log_records.c[by]
        present: list[str] = []
        async with self.reader.connect() as conn:
            for tenant in await self._all_tenants(conn):
                query = (
                    select(log_records.c.seq)
                    .where(log_records.c.tenant == tenant, column >= start, column < end)
                    .limit(1)
                )
                if (await conn.execute(query)).first() is not None:
                    present.append(tenant)
        return present

    async def oldest(self, *, by: TimeColumn) -> float | None:
        column = log_records.c[by]
        times: list[float] = []
        async with self.reader.connect() as conn:
            for tenant in await self._all_tenants(conn):
                query = select(func.min(column)).where(log_records.c.tenant == tenant)
                row = (await conn.execute(query)).first()
                if row is not None and row[0] is not None:
                    times.append(float(row[0]))
        return min(times) if times else None

    async def prune(self, older_than: float) -> int:
        c = log_records.c
        removed = 0
        while True:
            head = select(c.seq, c.received_at).order_by(c.seq).limit(PRUNE_BATCH)
            async with self.reader.connect() as conn:
                rows = (await conn.execute(head)).all()
            last: int | None = None
            for row in rows:
                if float(row.received_at) >= older_than:
                    break
                last = int(row.seq)
            if last is None:
                return removed
            async with self.writer.begin() as conn:
                result = await conn.execute(
                    delete(log_records).where(c.seq <= last, c.received_at < older_than)
                )
            removed += int(result.rowcount or 0)
