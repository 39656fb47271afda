"""Redis clients and key names shared by the Redis adapters."""

from __future__ import annotations

from redis.asyncio import Redis


def redis_client(url: str) -> Redis:
    """A client for `url` that decodes replies to str; connects lazily, with timeouts."""
    client: Redis = Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_keepalive=True,
        health_check_interval=15,
    )
    return client


class LazyRedis:
    """Holds the client of one adapter: made on first use, closed by `close()`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Redis | None = None

    @property
    def client(self) -> Redis:
        if self._client is None:
            self._client = redis_client(self.url)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def is_missing_group(exc: Exception) -> bool:
    """True when the stream or its group is gone (e.g. Redis restarted empty)."""
    return str(exc).startswith("NOGROUP") or str(exc).lower() == "no such key"


class KeySpace:
    """Key names under one prefix, so deployments and tests sharing a server never collide."""

    def __init__(self, prefix: str) -> None:
        if not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"invalid Redis key prefix {prefix!r}")
        self.prefix = prefix

    def jobs(self, model: str) -> str:
        """The stream of job ids waiting for `model`."""
        return f"{self.prefix}:jobs:{model}"

    def dispatched(self, model: str) -> str:
        """The hash of job ids currently in the stream of `model` (for the re-dispatch sweep)."""
        return f"{self.prefix}:dispatched:{model}"

    def events(self) -> str:
        """The stream of job events and results (source S2's `inference_results`)."""
        return f"{self.prefix}:inference_results"
