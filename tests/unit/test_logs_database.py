"""`SharedEngines`: the log adapters of a process share one pair of engines per database
(on SQLite, one writer connection), open until the last of them closes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.database import LogsDatabase, SharedEngines
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.domain.errors import Unavailable
from inferline.testing.server import sqlite_url


async def one(database: LogsDatabase) -> int:
    async with database.writer.begin() as conn:
        row = (await conn.execute(text("SELECT 1"))).first()
    assert row is not None
    return int(row[0])


async def test_adapters_share_the_engines_until_the_last_one_closes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "logs.db")
    shared = SharedEngines(create_engines)
    ingest, archive = (
        LogsDatabase(url, shared, upgrade_to_head),
        LogsDatabase(url, shared, upgrade_to_head),
    )
    alone = LogsDatabase(url, create_engines, upgrade_to_head)
    for database in (ingest, archive, alone):
        await database.start()
    assert ingest.writer is archive.writer and ingest.reader is archive.reader
    assert alone.writer is not ingest.writer

    await ingest.close()
    with pytest.raises(Unavailable):
        ingest.writer  # noqa: B018 (the property is what is tested)
    assert await one(archive) == 1  # still open for the other adapter
    writer = archive.writer
    await archive.close()
    with pytest.raises(RuntimeError):  # disposed of with the last holder
        async with writer.begin() as conn:
            await conn.execute(text("SELECT 1"))

    await ingest.start()  # a new start opens new engines
    assert ingest.writer is not writer and await one(ingest) == 1
    await ingest.close()
    await alone.close()
