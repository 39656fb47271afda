"""The embedded stream of log records: `StreamSink` and `StreamSource` on the
`logs_stream` table, for deployments without Kafka or Redis Streams. The ingest writes
to it and the log analysis reads it exactly as they would a broker's topic.

A row holds a chunk of one `send`'s records, in order, like a Kafka record batch: at
most `CHUNK_RECORDS` records and about `CHUNK_BYTES` bytes (a larger record is a row
alone), so the ingest writes, and the consumer reads and deletes, a row per chunk, not
per record. Its `records` column tells the two kinds of row apart:

- 1: one record, its key in `key` and its bytes in `value`, at position `"{seq}"`. Every
  row written before migration 0011 is one (the column's default), and a send writes a
  lone record (or one left over at the end of a send) the same way, so a chunk never
  holds a single record and a record keeps its position across the upgrade.
- more: a chunk, `value` a msgpack array of `[key, value]` pairs (the value as bin),
  `key` null; its `i`-th record is at position `"{seq}.{i}"`.

A record read again is at the same position with the same bytes (the consumer's dedup
of a replayed batch relies on it). A reader hands out whole rows, the oldest it has not
handed out yet (not "after the last one": on PostgreSQL a row with a smaller `seq` may
commit later). A row is deleted once all of its records are committed (normally in one
commit; a partial one is remembered in memory, and the row kept until the rest is); a
process that dies before committing leaves its rows, and the next reader reads them
again (at least once). One reading process per topic; writers may be many.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import msgpack
from sqlalchemy import delete, func, insert, select

from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.schema import logs_stream
from inferline.ports.streams import OutRecord, StreamRecord

IDLE_POLL_SECONDS = 0.1
CHUNK_RECORDS = 1000
CHUNK_BYTES = 4 * 1024 * 1024
"""About the most bytes of records in a row: base64 on MariaDB, whose MEDIUMTEXT holds
16 MiB (12 MiB of bytes)."""
PAIR_BYTES = 16
"""What a record adds to a chunk besides its key and value (msgpack headers, and more)."""


def chunks(records: list[OutRecord]) -> Iterator[list[OutRecord]]:
    """`records` in order, cut into chunks of one topic and at most `CHUNK_RECORDS`
    records and about `CHUNK_BYTES` bytes each."""
    chunk: list[OutRecord] = []
    size = 0
    for record in records:
        weight = len(record.value) + len(record.key or "") + PAIR_BYTES
        if chunk and (
            len(chunk) == CHUNK_RECORDS
            or size + weight > CHUNK_BYTES
            or record.topic != chunk[0].topic
        ):
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += weight
    if chunk:
        yield chunk


def row_of(chunk: list[OutRecord], now: float) -> dict[str, Any]:
    """The row that holds `chunk` (see the module)."""
    first = chunk[0]
    key, value = first.key, first.value
    if len(chunk) > 1:
        key, value = None, msgpack.packb([(r.key, r.value) for r in chunk])
    return {
        "topic": first.topic,
        "key": key,
        "value": value,
        "records": len(chunk),
        "created_at": now,
    }


def records_of(topic: str, row: Any) -> list[StreamRecord]:
    """The records a row holds (see the module)."""
    if row.records == 1:
        return [StreamRecord(topic, 0, str(row.seq), row.key, row.value)]
    pairs = msgpack.unpackb(row.value, use_list=False)
    return [
        StreamRecord(topic, 0, f"{row.seq}.{index}", key, value)
        for index, (key, value) in enumerate(pairs)
    ]


def seq_and_index(position: str) -> tuple[int, int]:
    """A position's row and its place in the row."""
    seq, _, index = position.partition(".")
    return int(seq), int(index or 0)


class SqlLogStream:
    """Both stream ports on one table; a send wakes a reader in the same process."""

    def __init__(self, database: LogsDatabase, topic: str) -> None:
        self.database = database
        self.topic = topic
        self._uncommitted: dict[int, set[int]] = {}
        """The rows handed out and not deleted yet, with the indexes of their records
        not committed yet."""
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
        rows = [row_of(chunk, now) for chunk in chunks(records)]
        async with self.database.writer.begin() as conn:
            await conn.execute(insert(logs_stream), rows)
        self._written.set()

    # -- StreamSource ------------------------------------------------------------
    async def read(self, count: int, block_seconds: float) -> list[StreamRecord]:
        """Whole rows not handed out yet, oldest first, waiting up to `block_seconds` for
        one: up to `count` records, but at least one row when there is one (so a read may
        exceed `count` by less than a row). Never part of a row, so a batch read again
        after a crash is made of the same rows."""
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
        c = logs_stream.c
        sizes = select(c.seq, c.records).where(c.topic == self.topic).order_by(c.seq).limit(count)
        if self._uncommitted:
            sizes = sizes.where(c.seq.not_in(sorted(self._uncommitted)))
        async with self.database.reader.connect() as conn:
            seqs: list[int] = []  # the oldest rows of up to `count` records, at least one
            total = 0
            for seq, records in await conn.execute(sizes):
                total += records
                if seqs and total > count:
                    break
                seqs.append(seq)
            if not seqs:
                return []
            rows = select(c.seq, c.key, c.value, c.records).where(c.seq.in_(seqs))
            held: list[Any] = list(await conn.execute(rows.order_by(c.seq)))
        out: list[StreamRecord] = []
        for row in held:
            records = records_of(self.topic, row)
            self._uncommitted[int(row.seq)] = set(range(len(records)))
            out += records
        return out

    async def commit(self, records: list[StreamRecord]) -> None:
        """Deletes each row once all of its records are committed; records not handed
        out by this reader (or committed already) are ignored."""
        touched: set[int] = set()
        for record in records:
            seq, index = seq_and_index(record.position)
            left = self._uncommitted.get(seq)
            if left is not None:
                left.discard(index)
                touched.add(seq)
        done = sorted(seq for seq in touched if not self._uncommitted[seq])
        if not done:
            return
        async with self.database.writer.begin() as conn:
            await conn.execute(delete(logs_stream).where(logs_stream.c.seq.in_(done)))
        for seq in done:
            del self._uncommitted[seq]

    async def lag(self) -> dict[int, int]:
        """Records not committed (a row of a chunk counts its records)."""
        query = select(func.coalesce(func.sum(logs_stream.c.records), 0)).where(
            logs_stream.c.topic == self.topic
        )
        async with self.database.reader.connect() as conn:
            (total,) = (await conn.execute(query)).first()
        return {0: int(total)}
