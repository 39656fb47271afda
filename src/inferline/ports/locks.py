"""A lease lock with fencing tokens: one holder at a time across processes.

`acquire` gives a `Lease` with a fencing token that grows with every acquisition
(never reused, whoever acquires). The lease ends `ttl_seconds` after its last
`acquire` or `renew` unless renewed; a holder that paused longer (a stop-the-world
pause, a lost network) may still believe it holds the lock, so whatever it writes
must carry the token, and the store it writes to refuses tokens older than the
newest it has seen (`DomainOutbox.mark_sent` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lock: its name, its holder, and the fencing token of this acquisition."""

    name: str
    holder: str
    token: int


class LeaseLock(Protocol):
    """A named lock with a time-to-live and fencing tokens (Redis; in-process embedded)."""

    async def acquire(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        """The lock when free (or its lease ran out), with a new, higher token; None when
        someone else holds it."""

    async def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        """Extend the lease; False when it was lost (ran out, or another holder now)."""

    async def release(self, lease: Lease) -> None:
        """Give the lock up now (nothing happens when it was already lost)."""

    async def raise_floor(self, name: str, token: int) -> None:
        """Make the next token of `name` greater than `token` (a store has seen `token`:
        after the lock's server lost its data, its counter must not hand out old ones)."""

    async def close(self) -> None:
        """Disconnect."""
