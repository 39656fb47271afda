"""The API key store on SQLite, PostgreSQL and MariaDB (migration 0006), and request
counts shared through Redis by several API processes."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from inferline.adapters.auth.rates import LimitsRateCounter
from inferline.adapters.sql.keys import SqlKeyStore
from inferline.application.auth import KeyService
from inferline.domain.errors import InvalidInput, NotFound, Unauthenticated
from inferline.testing import databases as dbs
from tests.support.requirements import require_server


async def test_keys_are_stored_hashed_found_by_prefix_and_revoked(store_url: str) -> None:
    store = SqlKeyStore(store_url)
    await store.start()
    try:
        keys = KeyService(store, secret=b"server-secret")
        made = await keys.create("acme", ["read", "submit"], name="ci", rate_limit="5/second")
        assert made.secret.startswith(f"il_{made.stored.prefix}_")
        stored = await store.key_by_prefix(made.stored.prefix)
        assert stored is not None and stored.scheme == "hmac-sha256"
        assert made.secret not in repr(stored) and stored.digest != made.secret
        assert (await keys.verify(made.secret)).scopes == {"read", "submit"}

        other = await keys.create("other", ["admin"])
        assert [k.id for k in await keys.list("acme")] == [made.stored.id]
        assert len(await keys.list(None)) == 2
        with pytest.raises(NotFound):  # another tenant's key does not exist for acme
            await keys.revoke(other.stored.id, "acme")
        revoked = await keys.revoke(made.stored.id, "acme")
        assert revoked.revoked_at is not None
        with pytest.raises(Unauthenticated, match="revoked"):
            await keys.verify(made.secret)

        # another server secret: the same key is not recognised
        with pytest.raises(Unauthenticated, match="invalid"):
            await KeyService(store, secret=b"another").verify(other.secret)
        with pytest.raises(InvalidInput, match="scopes"):
            await keys.create("acme", ["root"])
        with pytest.raises(InvalidInput, match="tenant"):
            await keys.create("no spaces", ["read"])
    finally:
        await store.close()


async def test_request_counts_are_shared_through_redis() -> None:
    require_server(dbs.REDIS)
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    url = f"redis://{dbs.REDIS_HOST}/0"
    first, second = LimitsRateCounter(url, prefix=prefix), LimitsRateCounter(url, prefix=prefix)
    try:
        allowed = [await counter.hit("4/minute", "key-1") for counter in (first, second) * 2]
        assert allowed == [None, None, None, None]
        wait = await first.hit("4/minute", "key-1")  # the fifth, in either process
        assert wait is not None and 0 < wait <= 60
        assert await second.hit("4/minute", "key-2") is None  # counted per key
        client = aioredis.from_url(url)
        try:
            stored = [k.decode() async for k in client.scan_iter(f"{prefix}:rate*")]
            assert stored  # under the deployment's private prefix
            await client.delete(*stored)
        finally:
            await client.aclose()
    finally:
        await first.close()
        await second.close()


async def test_request_counts_in_memory_are_per_process() -> None:
    first, second = LimitsRateCounter(), LimitsRateCounter()
    try:
        assert await first.hit("1/minute", "k") is None
        assert await first.hit("1/minute", "k") is not None
        assert await second.hit("1/minute", "k") is None
    finally:
        await first.close()
        await second.close()
