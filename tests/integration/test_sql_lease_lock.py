"""The lease lock in the database (no Redis) on SQLite, PostgreSQL and MariaDB: one
holder, growing tokens, renewal, expiry on the store's clock, release, a raised floor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from inferline.adapters.sql.locks import SqlLeaseLock
from inferline.adapters.sql.store import SqlJobStore
from inferline.testing.clock import FakeClock


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def lock(store_url: str, clock: FakeClock) -> AsyncIterator[SqlLeaseLock]:
    store = SqlJobStore(store_url, clock=clock)
    await store.start()
    yield SqlLeaseLock(store)
    await store.close()


async def test_one_holder_tokens_grow_leases_end_on_the_clock(
    lock: SqlLeaseLock, clock: FakeClock
) -> None:
    results = await asyncio.gather(*(lock.acquire("d", f"h{n}", 10) for n in range(4)))
    held = [lease for lease in results if lease is not None]
    assert len(held) == 1 and held[0].token == 1  # racing first acquisitions: one wins
    first = held[0]
    assert await lock.acquire("d", "other", 10) is None
    clock.advance(9)
    assert await lock.renew(first, 10)  # now held until +19
    clock.advance(9)
    assert await lock.acquire("d", "other", 10) is None
    clock.advance(2)  # the lease ran out
    second = await lock.acquire("d", "other", 10)
    assert second is not None and second.token == 2
    assert not await lock.renew(first, 10)  # the old holder cannot renew it back
    await lock.release(first)  # nor release the new holder's lease
    assert await lock.acquire("d", "third", 10) is None
    await lock.release(second)
    third = await lock.acquire("d", "third", 10)
    assert third is not None and third.token == 3
    await lock.release(third)
    await lock.raise_floor("d", 41)
    fourth = await lock.acquire("d", "third", 10)
    assert fourth is not None and fourth.token == 42
    other = await lock.acquire("another-lock", "x", 10)
    assert other is not None and other.token == 1
