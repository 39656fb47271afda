"""`DeadLetterStore` (ports/logs.py) on SQLite, PostgreSQL and MySQL/MariaDB.

The cursor is the id of the last letter of the previous page: ids only grow, so a page
continues with strictly older letters however many arrive meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select

from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.schema import logs_dead_letters
from inferline.domain.errors import InvalidInput
from inferline.ports.logs import DeadLetter, DeadLetterPage

MAX_REASON_CHARS = 8000
MAX_TAG_CHARS = 253


class SqlDeadLetterStore:
    """Dead letters in the `logs_dead_letters` table."""

    def __init__(self, database: LogsDatabase) -> None:
        self.database = database

    async def start(self) -> None:
        await self.database.start()

    async def close(self) -> None:
        await self.database.close()

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        rows = [
            {
                "tenant": letter.tenant,
                "source": letter.source,
                "tag": letter.tag[:MAX_TAG_CHARS] if letter.tag is not None else None,
                "reason": letter.reason[:MAX_REASON_CHARS],
                "reason_class": letter.reason_class[:64],
                "raw": letter.raw,
                "raw_size": letter.raw_size,
                "received_at": letter.received_at,
            }
            for letter in letters
        ]
        async with self.database.writer.begin() as conn:
            await conn.execute(insert(logs_dead_letters), rows)

    async def page(self, tenant: str, *, limit: int, cursor: str | None) -> DeadLetterPage:
        table = logs_dead_letters
        query = select(table).where(table.c.tenant == tenant)
        if cursor is not None:
            query = query.where(table.c.seq < _after(cursor))
        query = query.order_by(table.c.seq.desc()).limit(limit + 1)
        async with self.database.reader.connect() as conn:
            rows: list[Any] = list(await conn.execute(query))
        letters = [_letter(row) for row in rows[:limit]]
        more = len(rows) > limit and bool(letters)
        return DeadLetterPage(letters, str(letters[-1].id) if more else None)

    async def count(self, tenant: str) -> int:
        table = logs_dead_letters
        query = select(func.count()).select_from(table).where(table.c.tenant == tenant)
        async with self.database.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return int(row[0]) if row is not None else 0


def _after(cursor: str) -> int:
    if not cursor.isdigit() or len(cursor) > 19:
        raise InvalidInput(
            "cursor is not one this API gave out",
            details=[{"field": "cursor", "message": "use next_cursor of the previous page"}],
        )
    return int(cursor)


def _letter(row: Any) -> DeadLetter:
    return DeadLetter(
        tenant=row.tenant,
        source=row.source,
        tag=row.tag,
        reason=row.reason,
        reason_class=row.reason_class,
        raw=bytes(row.raw),
        raw_size=int(row.raw_size),
        received_at=float(row.received_at),
        id=int(row.seq),
    )
