"""The cache port: bytes by key, with a time to live. Misses are `None`.

A cache is an optimisation: adapters report a broken backend as misses (and
log it) rather than failing the request that asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class Cache(Protocol):
    """A key-value cache of byte strings that expire after a TTL."""

    async def start(self) -> None:
        """Connect (if there is anything to connect to)."""

    async def close(self) -> None:
        """Release connections."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of `keys`, in order; `None` for a missing or expired key."""
        ...

    async def set_many(self, items: Mapping[str, bytes], ttl_seconds: float) -> None:
        """Store every item; each expires `ttl_seconds` from now."""


class RankingCache(Cache, Protocol):
    """A cache that also deletes keys and keeps rankings (Redis sorted sets): what the
    recommendation app caches (`rec:trending` is a sorted set)."""

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Forget these keys (values and rankings)."""

    async def top(self, key: str, n: int) -> list[tuple[str, float]] | None:
        """The `n` best-scored members of the ranking, best first; None when it is absent."""
        ...

    async def replace_ranking(
        self, key: str, scores: Mapping[str, float], ttl_seconds: float
    ) -> None:
        """Replace the ranking by `scores`, expiring `ttl_seconds` from now."""

    async def increment_ranking(self, key: str, increments: Mapping[str, float]) -> None:
        """Add to members' scores, but only while the ranking exists (a missing one is
        rebuilt from the source of truth by whoever reads it next)."""
