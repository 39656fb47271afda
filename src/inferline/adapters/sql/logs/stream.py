"""The embedded stream of log records: `StreamSink` and `StreamSource` on the
`logs_stream` table, for deployments without Kafka or Redis Streams. The ingest writes
to it and the log analysis reads it exactly as they would a broker's topic.

A record is a row until it is committed (deleted). A reader hands out the oldest rows
it has not handed out yet (not "after the last one": on PostgreSQL a row with a
smaller `seq` may commit later); a process that dies before committing leaves its
rows, and the next reader reads them again (at least once). One reading process per
topic; writers may be many.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from sqlalchemy import delete, func, insert, select

from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.schema import logs_stream
from inferline.ports.streams import OutRecord, StreamRecord

IDLE_POLL_SECONDS = 0.1
INSERT_CHUNK = 1000


class SqlLogStream:
    """Both stream ports on one table; a send wakes a reader in the same process."""

    def __init__(self, database: LogsDatabase, topic: str) -> None:
        self.database = database
        self.topic = topic
        self._handed_out: set[int] = set()
        self._written = asyncio.Event()

    async def start(self) -> None:
        await self.database.start()

    async def close(self) -> None:
        await self.database.close()

    # -- StreamSink --------------------------------------------------------------
    async def send(self, records: list[OutRecord]) -> None:
        if not records:
            return
        now = time.time()
        rows = [
            {"topic": r.topic, "key": r.key, "value": r.value, "created_at": now} for r in records
        ]
        async with self.database.writer.begin() as conn:
            for start in range(0, len(rows), INSERT_CHUNK):
                await conn.execute(insert(logs_stream), rows[start : start + INSERT_CHUNK])
        self._written.set()

    # -- StreamSource ------------------------------------------------------------
    async def read(self, count: int, block_seconds: float) -> list[StreamRecord]:
        deadline = time.monotonic() + block_seconds
        while True:
            self._written.clear()
            records = await self._next(count)
            left = deadline - time.monotonic()
            if records or left <= 0:
                return records
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._written.wait(), min(left, IDLE_POLL_SECONDS))

    async def _next(self, count: int) -> list[StreamRecord]:
        table = logs_stream
        query = (
            select(table.c.seq, table.c.key, table.c.value)
            .where(table.c.topic == self.topic)
            .order_by(table.c.seq)
            .limit(count)
        )
        if self._handed_out:
            query = query.where(table.c.seq.not_in(sorted(self._handed_out)))
        async with self.database.reader.connect() as conn:
            rows: list[Any] = list(await conn.execute(query))
        self._handed_out.update(int(r.seq) for r in rows)
        return [StreamRecord(self.topic, 0, str(r.seq), r.key, bytes(r.value)) for r in rows]

    async def commit(self, records: list[StreamRecord]) -> None:
        if not records:
            return
        seqs = [int(r.position) for r in records]
        async with self.database.writer.begin() as conn:
            await conn.execute(delete(logs_stream).where(logs_stream.c.seq.in_(seqs)))
        self._handed_out.difference_update(seqs)

    async def lag(self) -> dict[int, int]:
        query = select(func.count()).where(logs_stream.c.topic == self.topic)
        async with self.database.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return {0: int(row[0]) if row is not None else 0}
