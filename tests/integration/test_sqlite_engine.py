"""The threaded SQLite engine under cancellation: no leaked connection, no partial write."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from inferline.adapters.sql.engine import SQLITE_READERS
from inferline.adapters.sql.store import SqlJobStore
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import NewJob
from inferline.testing.server import sqlite_url
from tests.support.jobs import admitted


def new_job() -> NewJob:
    return NewJob(new_job_id(), "default", "m", "1", {"x": 1})


async def test_writes_cancelled_at_any_point_leave_the_writer_usable(tmp_path: Path) -> None:
    store = SqlJobStore(sqlite_url(tmp_path / "cancel.db"))
    await store.start()
    committed = 0
    for i in range(200):
        task = asyncio.ensure_future(store.create_jobs([new_job()]))
        for _ in range(i % 9):  # cancel after a different number of loop turns each time
            await asyncio.sleep(0)
        task.cancel()
        results = await asyncio.gather(task, return_exceptions=True)
        committed += not isinstance(results[0], BaseException)
    # the one-connection writer pool would time out here if a checkout had leaked
    created = admitted(await asyncio.wait_for(store.create_jobs([new_job()]), timeout=10))
    assert created[0][1] is True
    totals = await store.status_totals()
    assert totals == {"queued": committed + 1}  # every cancelled write vanished whole
    assert len(await store.unpublished_events(1000)) == committed + 1
    await store.close()


async def _read_twice(store: SqlJobStore) -> None:
    """Hold a reader connection across an await, as every store read does."""
    async with store.reader.connect() as conn:
        await conn.execute(text("SELECT 1"))
        await asyncio.sleep(0)
        await conn.execute(text("SELECT count(*) FROM jobs"))


async def test_more_readers_than_connections_and_threads_never_stall(tmp_path: Path) -> None:
    # 64 readers over 8 pooled connections and 2 threads: a checkout that waited in a
    # thread would hold up the statements of the connections it waits for (issue 9).
    store = SqlJobStore(sqlite_url(tmp_path / "readers.db"))
    await store.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(_read_twice(store) for _ in range(64))), 10)
    finally:
        await store.close()


async def test_readers_cancelled_at_any_point_give_back_every_connection(tmp_path: Path) -> None:
    store = SqlJobStore(sqlite_url(tmp_path / "cancel-readers.db"))
    await store.start()
    try:
        for i in range(100):
            tasks = [asyncio.ensure_future(_read_twice(store)) for _ in range(12)]
            for _ in range(i % 7):  # cancel after a different number of loop turns each time
                await asyncio.sleep(0)
            for task in tasks[::2]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # every connection is back: as many readers as the pool holds run at once
        readers = [_read_twice(store) for _ in range(SQLITE_READERS)]
        await asyncio.wait_for(asyncio.gather(*readers), 10)
    finally:
        await store.close()
