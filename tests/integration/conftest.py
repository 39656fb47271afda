"""Fixtures for adapters on real servers: a fresh database or Redis prefix per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inferline.testing import databases as dbs
from inferline.testing.server import sqlite_url
from tests.support.requirements import require_server

ENGINES = ("sqlite", "postgresql", "mysql")


@pytest.fixture(params=ENGINES)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database on each engine in turn."""
    engine: str = request.param
    if engine == "sqlite":
        yield sqlite_url(tmp_path / "store.db")
        return
    name = dbs.unique_name()
    if engine == "postgresql":
        require_server(dbs.POSTGRES)
        yield await dbs.create_postgres_database(name)
        await dbs.drop_postgres_database(name)
    else:
        require_server(dbs.MYSQL)
        yield await dbs.create_mysql_database(name)
        await dbs.drop_mysql_database(name)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    require_server(dbs.REDIS)
    prefix = dbs.unique_name("inferline-test")
    yield prefix
    await dbs.delete_redis_prefix(prefix)
