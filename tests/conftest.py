"""Shared fixtures: temporary databases, real server processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from inferline.testing import databases as dbs
from inferline.testing.server import ServerProcess, http_server, sqlite_url
from inferline.testing.services import PrivateKafka
from tests.support.requirements import missing, require_server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite database file in this test's temporary directory."""
    return sqlite_url(tmp_path / "inferline.db")


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
def artifacts_dir() -> Path:
    """Where tests leave screenshots and logs worth keeping (test-artifacts/)."""
    path = Path(__file__).resolve().parents[1] / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def serve(tmp_path: Path, db_url: str) -> Iterator[ServerProcess]:
    """`inferline serve` with the cheap moving-average model, ready to use."""
    server = http_server("serve", db_url, tmp_path / "server.log", models="moving-average")
    server.start().wait_ready()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateKafka]:
    """One Tansu Kafka broker for the session; each test uses its own topic prefix."""
    try:
        broker = PrivateKafka(tmp_path_factory.mktemp("kafka")).start()
    except FileNotFoundError as exc:
        missing(str(exc))
    yield broker
    broker.stop()


@pytest.fixture
def kafka_prefix() -> str:
    """A topic (and consumer group) prefix of this test alone."""
    return f"{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    require_server(dbs.REDIS)
    prefix = dbs.unique_name("inferline-test")
    yield prefix
    await dbs.delete_redis_prefix(prefix)
