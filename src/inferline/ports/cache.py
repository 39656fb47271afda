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
