"""Fixtures for adapters on real servers: a fresh database or Redis prefix per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferline.testing import databases as dbs
from tests.support.requirements import require_server


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    require_server(dbs.REDIS)
    prefix = dbs.unique_name("inferline-test")
    yield prefix
    await dbs.delete_redis_prefix(prefix)
