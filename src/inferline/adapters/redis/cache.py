"""The cache on Redis: one key per entry under a prefix, `MGET` to read, `SET … EX` to write.

Shared by every API process. When Redis is unreachable the cache answers misses
and drops writes (logging once per failure streak), so embeddings keep working
without it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# ZINCRBY each member only while the sorted set exists (a missing one is rebuilt by its reader)
_INCREMENT_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  for i = 1, #ARGV, 2 do
    redis.call('ZINCRBY', KEYS[1], ARGV[i + 1], ARGV[i])
  end
end
return 0
"""


class RedisCache:
    """Cache adapter on a Redis server; keys are `<prefix><key>`."""

    def __init__(self, url: str, prefix: str = "inferline:cache:") -> None:
        if not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"invalid Redis key prefix {prefix!r}")
        self.url = url
        self.prefix = prefix
        self._client: Redis | None = None
        self._failing = False

    async def start(self) -> None:
        """Create the client (connections open lazily) and check the server once."""
        self._client = Redis.from_url(
            self.url, decode_responses=False, socket_connect_timeout=2.0, socket_timeout=2.0
        )
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            self._failed("ping", exc)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        client = self._require()
        try:
            values = await client.mget([self.prefix + key for key in keys])
        except (RedisError, OSError) as exc:
            self._failed("read", exc)
            return [None] * len(keys)
        self._recovered()
        return [value if isinstance(value, bytes) else None for value in values]

    async def set_many(self, items: Mapping[str, bytes], ttl_seconds: float) -> None:
        if not items or ttl_seconds <= 0:
            return
        client = self._require()
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        try:
            async with client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(self.prefix + key, value, px=ttl_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("write", exc)
            return
        self._recovered()

    def _require(self) -> Redis:
        if self._client is None:
            raise RuntimeError("RedisCache.start() must be called first")
        return self._client

    def _failed(self, what: str, exc: Exception) -> None:
        if not self._failing:
            log.warning(
                "Redis cache %s failed (%s: %s); serving without the cache",
                what,
                type(exc).__name__,
                exc,
            )
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.info("Redis cache is back")
        self._failing = False

    async def delete_many(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            await self._require().delete(*[self.prefix + key for key in keys])
        except (RedisError, OSError) as exc:
            self._failed("delete", exc)
            return
        self._recovered()

    async def top(self, key: str, n: int) -> list[tuple[str, float]] | None:
        client = self._require()
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.exists(self.prefix + key)
                pipe.zrevrange(self.prefix + key, 0, max(0, n - 1), withscores=True)
                exists, members = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("read", exc)
            return None
        self._recovered()
        if not exists:
            return None
        return [(m.decode() if isinstance(m, bytes) else str(m), float(s)) for m, s in members]

    async def replace_ranking(
        self, key: str, scores: Mapping[str, float], ttl_seconds: float
    ) -> None:
        client = self._require()
        name = self.prefix + key
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(name)
                if scores and ttl_seconds > 0:
                    pipe.zadd(name, dict(scores))
                    pipe.pexpire(name, max(1, math.ceil(ttl_seconds * 1000)))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("write", exc)
            return
        self._recovered()

    async def increment_ranking(self, key: str, increments: Mapping[str, float]) -> None:
        if not increments:
            return
        args: list[str | float] = []
        for member, amount in increments.items():
            args += [member, amount]
        try:
            await self._require().eval(_INCREMENT_EXISTING, 1, self.prefix + key, *args)
        except (RedisError, OSError) as exc:
            self._failed("write", exc)
            return
        self._recovered()
