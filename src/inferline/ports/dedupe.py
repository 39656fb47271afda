"""Idempotent consumers' memory: which events a consumer has applied (or is applying).

A stream delivers at least once; a consumer that must apply each event once asks
`begin` before applying it and says `done` after. `begin` is true only for the first
delivery of an event id to that consumer; while it is being applied (`processing`,
for at most `processing_seconds`) a second delivery is told to wait; once `done`, every
later delivery is a duplicate, for `retention_seconds`. A consumer that died while
applying leaves a `processing` mark that runs out, so a redelivery applies the event.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Seen(StrEnum):
    NEW = "new"
    """First delivery: apply it, then call `done` (or `forget` when applying failed)."""
    PROCESSING = "processing"
    """Another delivery of it is being applied now: do not acknowledge; it comes again."""
    DONE = "done"
    """Already applied: acknowledge and skip."""


class ProcessedEvents(Protocol):
    """Per consumer, the event ids begun and applied (Redis SET NX with TTLs; in memory)."""

    async def begin(self, consumer: str, event_id: str, processing_seconds: float) -> Seen:
        """Mark the event as being applied by `consumer` when it was never seen."""

    async def done(self, consumer: str, event_id: str, retention_seconds: float) -> None:
        """The event was applied: every later delivery within the retention is a duplicate."""

    async def forget(self, consumer: str, event_id: str) -> None:
        """Applying failed: the next delivery applies it again."""
