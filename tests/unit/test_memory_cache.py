"""The in-memory cache: least recently used entries go first, entries expire after their TTL."""

from __future__ import annotations

import pytest

from inferline.adapters.memory.cache import MemoryCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_values_come_back_in_key_order_and_misses_are_none() -> None:
    cache = MemoryCache(10)
    await cache.set_many({"a": b"1", "b": b"2"}, ttl_seconds=60)
    assert await cache.get_many(["b", "missing", "a"]) == [b"2", None, b"1"]


async def test_entries_expire_after_their_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(10, clock=clock)
    await cache.set_many({"short": b"s"}, ttl_seconds=5)
    await cache.set_many({"long": b"l"}, ttl_seconds=50)
    clock.now += 4.9
    assert await cache.get_many(["short", "long"]) == [b"s", b"l"]
    clock.now += 0.2
    assert await cache.get_many(["short", "long"]) == [None, b"l"]
    assert len(cache) == 1  # the expired entry is gone, not just hidden


async def test_least_recently_used_entry_is_evicted_first() -> None:
    cache = MemoryCache(2)
    await cache.set_many({"a": b"1", "b": b"2"}, ttl_seconds=60)
    await cache.get_many(["a"])  # a is now more recent than b
    await cache.set_many({"c": b"3"}, ttl_seconds=60)
    assert await cache.get_many(["a", "b", "c"]) == [b"1", None, b"3"]


async def test_setting_again_replaces_the_value_and_refreshes_the_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(5, clock=clock)
    await cache.set_many({"k": b"old"}, ttl_seconds=10)
    clock.now += 8
    await cache.set_many({"k": b"new"}, ttl_seconds=10)
    clock.now += 8
    assert await cache.get_many(["k"]) == [b"new"]


async def test_zero_ttl_stores_nothing() -> None:
    cache = MemoryCache(5)
    await cache.set_many({"k": b"v"}, ttl_seconds=0)
    assert await cache.get_many(["k"]) == [None]


def test_a_cache_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryCache(0)
