"""The Redis cache adapter against the real Redis server (a unique key prefix per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferline.adapters.redis.cache import RedisCache
from inferline.testing.databases import redis_url
from inferline.testing.polling import poll_until_async


@pytest.fixture
async def cache(redis_prefix: str) -> AsyncIterator[RedisCache]:
    cache = RedisCache(redis_url(), prefix=f"{redis_prefix}:cache:")
    await cache.start()
    yield cache
    await cache.close()


async def test_values_come_back_in_key_order(cache: RedisCache) -> None:
    await cache.set_many({"a": b"\x00\x01binary", "b": b"2"}, ttl_seconds=60)
    assert await cache.get_many(["b", "missing", "a"]) == [b"2", None, b"\x00\x01binary"]
    assert await cache.get_many([]) == []


async def test_entries_expire_after_their_ttl(cache: RedisCache) -> None:
    await cache.set_many({"short": b"s", "long": b"l"}, ttl_seconds=0.2)
    await cache.set_many({"long": b"l"}, ttl_seconds=60)
    assert await cache.get_many(["short"]) == [b"s"]
    await poll_until_async(
        lambda: cache.get_many(["short"]),
        "the entry expired",
        timeout=5,
        accept=lambda values: values == [None],
        interval=0.02,
    )
    assert await cache.get_many(["long"]) == [b"l"]


async def test_keys_live_under_the_prefix_with_a_ttl(cache: RedisCache, redis_prefix: str) -> None:
    from redis.asyncio import Redis

    await cache.set_many({"k": b"v"}, ttl_seconds=3600)
    client = Redis.from_url(redis_url())
    try:
        ttl_ms = await client.pttl(f"{redis_prefix}:cache:k")
    finally:
        await client.aclose()
    assert 3_590_000 < ttl_ms <= 3_600_000


async def test_an_unreachable_redis_reads_as_misses_and_drops_writes() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0", prefix="inferline-test-down:")
    await cache.start()
    try:
        await cache.set_many({"k": b"v"}, ttl_seconds=60)
        assert await cache.get_many(["k", "j"]) == [None, None]
    finally:
        await cache.close()
