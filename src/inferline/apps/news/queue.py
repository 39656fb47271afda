"""The embedded stream: `StreamSource` and `StreamSink` on the database's `news_queue` table,
for deployments without Kafka or Redis Streams. The producer and the processor use it
exactly as they use a broker.

A record is a row until it is committed (deleted). A reader hands out the oldest rows
it has not handed out yet (not "after the last one": on PostgreSQL a row with a
smaller `seq` may commit later); a process that dies before committing leaves its
rows, and the next reader to start reads them again (at least once). One reading
process per topic (the API process that runs the processor); writers may be many.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from sqlalchemy import delete, func, insert, select

from inferline.apps.news.schema import news_queue
from inferline.apps.news.store import NewsStore
from inferline.ports.streams import OutRecord, StreamRecord

IDLE_POLL_SECONDS = 0.1


class SqlStream:
    """Both stream ports on one table; `notify` wakes a reader in the same process."""

    def __init__(self, store: NewsStore, topic: str) -> None:
        self.store = store
        self.topic = topic
        self._handed_out: set[int] = set()
        self._written = asyncio.Event()

    # -- StreamSink --------------------------------------------------------------
    async def start(self) -> None:
        """Nothing to connect: the store is started by its owner."""

    async def close(self) -> None:
        """Nothing to release."""

    async def send(self, records: list[OutRecord]) -> None:
        if not records:
            return
        now = time.time()
        rows = [
            {"topic": r.topic, "key": r.key, "value": r.value, "created_at": now} for r in records
        ]
        async with self.store.writer.begin() as conn:
            await conn.execute(insert(news_queue), rows)
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
        query = (
            select(news_queue.c.seq, news_queue.c.key, news_queue.c.value)
            .where(news_queue.c.topic == self.topic)
            .order_by(news_queue.c.seq)
            .limit(count)
        )
        if self._handed_out:
            query = query.where(news_queue.c.seq.not_in(sorted(self._handed_out)))
        async with self.store.reader.connect() as conn:
            rows: list[Any] = list(await conn.execute(query))
        self._handed_out.update(int(r.seq) for r in rows)
        return [StreamRecord(self.topic, 0, str(r.seq), r.key, bytes(r.value)) for r in rows]

    async def commit(self, records: list[StreamRecord]) -> None:
        if not records:
            return
        seqs = [int(r.position) for r in records]
        async with self.store.writer.begin() as conn:
            await conn.execute(delete(news_queue).where(news_queue.c.seq.in_(seqs)))
        self._handed_out.difference_update(seqs)

    async def lag(self) -> dict[int, int]:
        query = select(func.count()).where(news_queue.c.topic == self.topic)
        async with self.store.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return {0: int(row[0]) if row is not None else 0}
