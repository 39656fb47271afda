"""In-process cache: least recently used entries go first, each entry expires after its TTL."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence


class MemoryCache:
    """An LRU cache with per-entry expiry, bounded by entry count. Not shared between processes."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._rankings: dict[str, tuple[float, dict[str, float]]] = {}

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Drop every entry."""
        self._entries.clear()
        self._rankings.clear()

    def __len__(self) -> int:
        return len(self._entries)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = self._clock()
        return [self._get(key, now) for key in keys]

    def _get(self, key: str, now: float) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set_many(self, items: Mapping[str, bytes], ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            return
        expires_at = self._clock() + ttl_seconds
        for key, value in items.items():
            self._entries[key] = (expires_at, value)
            self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)
            self._rankings.pop(key, None)

    def _ranking(self, key: str) -> dict[str, float] | None:
        entry = self._rankings.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._rankings[key]
            return None
        return entry[1]

    async def top(self, key: str, n: int) -> list[tuple[str, float]] | None:
        ranking = self._ranking(key)
        if ranking is None:
            return None
        return sorted(ranking.items(), key=lambda item: (-item[1], item[0]))[:n]

    async def replace_ranking(
        self, key: str, scores: Mapping[str, float], ttl_seconds: float
    ) -> None:
        if ttl_seconds <= 0:
            self._rankings.pop(key, None)
            return
        self._rankings[key] = (self._clock() + ttl_seconds, dict(scores))

    async def increment_ranking(self, key: str, increments: Mapping[str, float]) -> None:
        ranking = self._ranking(key)
        if ranking is None:
            return
        for member, amount in increments.items():
            ranking[member] = ranking.get(member, 0.0) + amount
