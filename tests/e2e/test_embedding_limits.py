"""Backpressure and the shared cache: a flood gets 429 with Retry-After; Redis caches vectors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferline.testing import databases as dbs
from inferline.testing.server import ServerProcess, http_server, sqlite_url
from tests.support.requirements import require_server


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    require_server(dbs.REDIS)
    prefix = dbs.unique_name("inferline-test")
    yield prefix
    asyncio.run(dbs.delete_redis_prefix(prefix))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, redis_prefix: str) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("limits")
    process = http_server(
        "serve",
        sqlite_url(Path(folder) / "inferline.db"),
        Path(folder) / "server.log",
        models="minilm",
        max_pending_sync="4",
        cache_url=dbs.redis_url(),
        redis_prefix=redis_prefix,
    )
    process.start().wait_ready(timeout=110)
    yield process
    process.stop()


def test_a_flood_gets_429_with_retry_after_and_nothing_fails(server: ServerProcess) -> None:
    async def flood() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post("/embed", json={"text": f"flood sentence number {i}"})
                    for i in range(100)
                )
            )

    responses = asyncio.run(flood())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    rejected = [r for r in responses if r.status_code == 429]
    assert rejected, "a queue of 4 cannot take 100 requests at once"
    assert all(int(r.headers["Retry-After"]) >= 1 for r in rejected)
    assert rejected[0].json()["error"]["code"] == "overloaded"
    assert statuses.count(200) >= 4


def test_embeddings_are_cached_in_redis(server: ServerProcess, redis_prefix: str) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        first = client.post("/embed", json={"text": "cached in redis"}).json()
        second = client.post("/embed", json={"text": "cached in redis"}).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["embedding"] == first["embedding"]

    async def keys() -> list[bytes]:
        from redis.asyncio import Redis

        client = Redis.from_url(dbs.redis_url())
        try:
            return [k async for k in client.scan_iter(match=f"{redis_prefix}:cache:emb:*")]
        finally:
            await client.aclose()

    assert len(asyncio.run(keys())) >= 1
