"""`RateCounter` with the `limits` package: a moving window per key, in this process's
memory or in Redis (shared by every API process; keys under `<redis_prefix>:rate`)."""

from __future__ import annotations

import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


@lru_cache(maxsize=256)
def _item(limit: str) -> RateLimitItem:
    return parse(limit)


class LimitsRateCounter:
    """Counts requests per identity in a moving window."""

    def __init__(self, url: str = "memory://", *, prefix: str = "inferline") -> None:
        self.storage: Storage
        if url.startswith(("redis://", "rediss://")):
            self.storage = RedisStorage(
                f"async+{url}", implementation="redispy", key_prefix=f"{prefix}:rate"
            )
        elif url.startswith("memory://"):
            self.storage = MemoryStorage()
        else:
            raise ValueError(f"unsupported rate limit storage {url!r}: memory:// or redis://")
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, limit: str, identity: str) -> float | None:
        item = _item(limit)
        if await self.limiter.hit(item, identity):
            return None
        stats = await self.limiter.get_window_stats(item, identity)
        return max(0.0, stats.reset_time - time.time())

    async def close(self) -> None:
        if isinstance(self.storage, MemoryStorage):
            if self.storage.timer is not None:
                self.storage.timer.cancel()
            return
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None and hasattr(client, "aclose"):
            await client.aclose()
