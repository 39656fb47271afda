"""Fixtures for adapters on real servers: a fresh database or Redis prefix per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferline.testing import databases as dbs


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A Redis key prefix of this test alone; its keys are deleted afterwards."""
    dbs.REDIS.require()
    prefix = dbs.unique_name("inferline-test")
    yield prefix
    await dbs.delete_redis_prefix(prefix)
