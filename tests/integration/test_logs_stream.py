"""The embedded stream `logs.raw` on SQLite, PostgreSQL and MariaDB (migration 0011): a
send is written as chunks of records, a row each (cut by records and by bytes), read back
in whole rows in order at positions stable across readers, deleted once every record of
a row is committed; rows written before 0011 (one record each) read as before; and the
consumer of `logs.raw` replays a batch stored but not committed without counting it twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import insert, pool, select
from sqlalchemy.ext.asyncio import create_async_engine

from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.schema import logs_stream
from inferline.adapters.sql.logs.stream import CHUNK_RECORDS, SqlLogStream
from inferline.adapters.sql.migrate import alembic_config, upgrade_to_head
from inferline.ports.streams import OutRecord, StreamRecord

TOPIC = "logs.raw"
MIB = 1024 * 1024


@pytest.fixture
async def stream(logs_database: LogsDatabase) -> AsyncIterator[SqlLogStream]:
    writer = SqlLogStream(logs_database, TOPIC)
    await writer.start()
    yield writer
    await writer.close()


def out(n: int, key: str | None = "api") -> OutRecord:
    """Record `n`, with every byte value in it (not text)."""
    return OutRecord(TOPIC, key, b"%d:" % n + bytes(range(256)))


async def row_sizes(logs_database: LogsDatabase) -> list[int]:
    """The `records` of every row of the stream, oldest first."""
    query = select(logs_stream.c.records).order_by(logs_stream.c.seq)
    async with logs_database.reader.connect() as conn:
        return [int(r) for r in (await conn.execute(query)).scalars()]


def seqs(records: list[StreamRecord]) -> list[str]:
    """The rows `records` came from, in order, each once."""
    return list(dict.fromkeys(r.position.partition(".")[0] for r in records))


async def read_all(reader: SqlLogStream, count: int = 10_000) -> list[StreamRecord]:
    got: list[StreamRecord] = []
    while more := await reader.read(count, 0):
        got += more
    return got


async def test_a_large_send_is_several_rows_read_in_order_at_stable_positions(
    logs_database: LogsDatabase, stream: SqlLogStream
) -> None:
    sent = [
        out(n, key=None if n % 5 == 0 else f"svc-{n % 3}") for n in range(2 * CHUNK_RECORDS + 345)
    ]
    await stream.send(sent)
    assert await row_sizes(logs_database) == [CHUNK_RECORDS, CHUNK_RECORDS, 345]

    first = await read_all(SqlLogStream(logs_database, TOPIC))
    assert [(r.key, r.value) for r in first] == [(s.key, s.value) for s in sent]
    assert len({r.position for r in first}) == len(sent)
    assert {(r.topic, r.partition) for r in first} == {(TOPIC, 0)}
    rows = seqs(first)
    assert [r.position for r in first[:2]] == [f"{rows[0]}.0", f"{rows[0]}.1"]
    assert first[-1].position == f"{rows[2]}.344"
    # nothing was committed: a new reader (the first died) gets the same records again
    again = await read_all(SqlLogStream(logs_database, TOPIC), count=700)
    assert again == first


async def test_a_read_hands_out_whole_rows_at_least_one(
    logs_database: LogsDatabase, stream: SqlLogStream
) -> None:
    for start, size in ((0, 5), (5, 5), (10, 3)):
        await stream.send([out(n) for n in range(start, start + size)])
    reader = SqlLogStream(logs_database, TOPIC)
    assert len(await reader.read(1, 0)) == 5  # one whole row though `count` is 1
    assert len(await reader.read(7, 0)) == 5  # the next row, not the one after (8 > 7)
    assert len(await reader.read(8, 0)) == 3
    assert await reader.read(8, 0.05) == []
    everything = await SqlLogStream(logs_database, TOPIC).read(13, 0)
    assert [r.value for r in everything] == [out(n).value for n in range(13)]
    assert len(await SqlLogStream(logs_database, TOPIC).read(12, 0)) == 10


async def test_a_row_goes_once_all_its_records_are_committed_and_lag_counts_records(
    logs_database: LogsDatabase, stream: SqlLogStream
) -> None:
    await stream.send([out(n) for n in range(4)])
    await stream.send([out(4), *[OutRecord("other.topic", None, b"elsewhere")] * 3])
    assert await stream.lag() == {0: 5}
    assert await SqlLogStream(logs_database, "other.topic").lag() == {0: 3}

    reader = SqlLogStream(logs_database, TOPIC)
    chunk = await reader.read(4, 0)
    await reader.commit(chunk[:2])
    await reader.commit(chunk[:1])  # committed twice: no matter
    assert await reader.lag() == {0: 5}  # the row stays until all of it is committed
    [lone] = await reader.read(10, 0)  # the row partly committed is not handed out again
    assert lone.value == out(4).value
    again = await SqlLogStream(logs_database, TOPIC).read(10, 0)  # a reader after a crash
    assert [r.value for r in again] == [out(n).value for n in range(5)]
    await reader.commit(chunk[2:])
    assert await reader.lag() == {0: 1}
    assert await row_sizes(logs_database) == [1, 3]  # the lone record, the other topic's chunk


async def test_a_row_written_before_chunks_reads_as_one_record(
    logs_database: LogsDatabase, stream: SqlLogStream
) -> None:
    legacy = {"topic": TOPIC, "key": "api", "value": b'{"n": 0}', "created_at": 1.0}
    async with logs_database.writer.begin() as conn:  # as the code before migration 0011 did
        await conn.execute(insert(logs_stream), [legacy])
    await stream.send([out(1), out(2)])
    assert await stream.lag() == {0: 3}
    reader = SqlLogStream(logs_database, TOPIC)
    old, *new = await reader.read(10, 0)
    assert (old.key, old.value, old.position.isdigit()) == ("api", b'{"n": 0}', True)
    assert [r.value for r in new] == [out(1).value, out(2).value]
    await reader.commit([old, *new])
    assert await reader.lag() == {0: 0}
    assert await row_sizes(logs_database) == []


async def test_values_of_several_mib_are_cut_into_rows_by_bytes(
    logs_database: LogsDatabase, stream: SqlLogStream
) -> None:
    big = [OutRecord(TOPIC, f"k{n}", bytes([n, 0, 255]) * (MIB // 2)) for n in range(5)]
    await stream.send(big)  # 1.5 MiB each: two a row, the last alone
    assert await row_sizes(logs_database) == [2, 2, 1]
    reader = SqlLogStream(logs_database, TOPIC)
    rows = [await reader.read(1, 0) for _ in range(3)]
    assert [len(r) for r in rows] == [2, 2, 1]
    assert [r.value for r in rows[0] + rows[1] + rows[2]] == [b.value for b in big]
    assert [r.key for r in rows[2]] == ["k4"]


async def test_the_migration_keeps_records_written_before_it(store_url: str) -> None:
    config = alembic_config(store_url)
    await asyncio.to_thread(command.upgrade, config, "0010")
    engine = create_async_engine(store_url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            rows = [
                {"topic": TOPIC, "key": f"k{n}", "value": b"v%d" % n, "created_at": 1.0}
                for n in range(3)
            ]
            await conn.execute(insert(logs_stream), rows)
    finally:
        await engine.dispose()
    logs_database = LogsDatabase(store_url, create_engines, upgrade_to_head)
    reader = SqlLogStream(logs_database, TOPIC)
    await reader.start()
    try:
        assert await reader.lag() == {0: 3}
        got = await reader.read(2, 0)
        assert [(r.key, r.value) for r in got] == [("k0", b"v0"), ("k1", b"v1")]
        await reader.commit(got)
        assert await reader.lag() == {0: 1}
    finally:
        await reader.close()
    await asyncio.to_thread(command.downgrade, config, "0010")
    await asyncio.to_thread(command.upgrade, config, "head")
