"""The threaded SQLite engine under cancellation: no leaked connection, no partial write."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inferline.adapters.sql.store import SqlJobStore
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import NewJob
from inferline.testing.server import sqlite_url


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
    created = await asyncio.wait_for(store.create_jobs([new_job()]), timeout=10)
    assert created[0][1] is True
    totals = await store.status_totals()
    assert totals == {"queued": committed + 1}  # every cancelled write vanished whole
    assert len(await store.unpublished_events(1000)) == committed + 1
    await store.close()
