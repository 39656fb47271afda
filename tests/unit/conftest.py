"""Unit-test fixtures: the embedded adapters, on a clock that moves only when told."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferline.adapters.sql.store import SqlJobStore
from inferline.testing.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """The job clock of this test: leases, backoff and deadlines pass only by `advance`."""
    return FakeClock()


@pytest.fixture
async def embedded_store(db_url: str, clock: FakeClock) -> AsyncIterator[SqlJobStore]:
    """The embedded adapter of every store port (repository, claim queue, outbox, worker
    registry, statistics): SQLite in this test's temporary folder, on the test's clock."""
    store = SqlJobStore(db_url, clock=clock)
    await store.start()
    yield store
    await store.close()
