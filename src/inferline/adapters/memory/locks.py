"""The lease lock in one process: `LeaseLock` on a dict.

Only the tasks of this process are kept apart (`INFERLINE_DOMAIN_EVENTS_LOCK_URL=memory://`):
two processes each have their own, and their dispatchers both send (duplicates, never
losses: consumers deduplicate). The default without Redis is the database's lock
(`adapters/sql/locks.py`), which every process shares.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from inferline.ports.locks import Lease


class InProcessLeaseLock:
    """`LeaseLock` for the tasks of one process; tokens count up from `raise_floor`'s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._held: dict[str, tuple[Lease, float]] = {}  # name → (lease, expires at)
        self._tokens: dict[str, int] = {}

    async def acquire(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        held = self._held.get(name)
        if held is not None and held[1] > self._clock():
            return None
        token = self._tokens.get(name, 0) + 1
        self._tokens[name] = token
        lease = Lease(name, holder, token)
        self._held[name] = (lease, self._clock() + ttl_seconds)
        return lease

    async def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        held = self._held.get(lease.name)
        if held is None or held[0] != lease or held[1] <= self._clock():
            return False
        self._held[lease.name] = (lease, self._clock() + ttl_seconds)
        return True

    async def release(self, lease: Lease) -> None:
        held = self._held.get(lease.name)
        if held is not None and held[0] == lease:
            del self._held[lease.name]

    async def raise_floor(self, name: str, token: int) -> None:
        self._tokens[name] = max(self._tokens.get(name, 0), token)

    async def close(self) -> None:
        return None
