"""A PostgreSQL server without autovacuum lets the job tables bloat (the soak's p99 grew
tenfold in ten minutes): the store says so once, at start, and only then."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from inferline.adapters.sql.base import WITHOUT_AUTOVACUUM
from inferline.adapters.sql.store import SqlJobStore
from inferline.testing.services import PrivatePostgres
from tests.support.requirements import missing


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    """A cluster of this test alone, started without autovacuum."""
    server = PrivatePostgres(settings={"autovacuum": "off"})
    try:
        server.start()
    except FileNotFoundError as exc:
        missing(str(exc))
    yield server
    server.destroy()


async def warnings_at_start(url: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.clear()
    store = SqlJobStore(url)
    with caplog.at_level(logging.WARNING, logger="inferline.adapters.sql.base"):
        await store.start()
    await store.close()
    return caplog.messages


async def test_the_store_warns_when_autovacuum_is_off_and_not_when_on(
    postgres: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    assert await warnings_at_start(postgres.url, caplog) == [WITHOUT_AUTOVACUUM]
    postgres.stop()
    postgres.settings["autovacuum"] = "on"
    postgres.start()
    assert await warnings_at_start(postgres.url, caplog) == []
