"""The domain event ports: the outbox an app writes into, and what the dispatcher reads.

Writing (apps): an app's store changes state in a transaction of its own and, with
that transaction's connection and before it commits, calls a `DomainEventAppender`
(`await append(conn, [DomainEvent.new("order-placed", user_id, {...}, tenant)])`).
The events then commit or vanish with the change. Apps never import the adapter: the
composition root hands them the appender (`bootstrap.domain_event_appender`), as it
hands them their database's engines.

Sending (the platform): `DomainOutbox` is the table as the dispatcher sees it: unsent
events in order, marked sent (under a fencing token) once the stream acknowledged
them, rescheduled with backoff when it did not, pruned after a retention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from inferline.domain.domain_events import DomainEvent
from inferline.domain.errors import Conflict


class DomainEventAppender(Protocol):
    """Adds events to the outbox inside the caller's open transaction (never commits)."""

    async def __call__(self, conn: Any, events: Sequence[DomainEvent]) -> None:
        """`conn` is the connection of the caller's transaction (an engine's `begin()`)."""


class ConsumedEvents(Protocol):
    """Records, inside a consumer's open transaction, that it applies an event: its
    database effect and the record commit together, so it happens exactly once."""

    async def __call__(self, conn: Any, consumer: str, event_id: str, at: float) -> bool:
        """True the first time (apply the effect now, in this transaction); False when
        `consumer` applied `event_id` before (skip it)."""


class FencedOut(Conflict):
    """A dispatcher presented a fencing token older than one the outbox has seen: it lost
    its lease, and another dispatcher took over. Nothing was marked."""


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An unsent event as the dispatcher reads it."""

    seq: int
    event: DomainEvent
    attempts: int
    """Sends tried so far (failed ones; the one about to run is attempts + 1)."""


@dataclass(frozen=True, slots=True)
class SendFailure:
    """An event whose send failed, when to try again, and why."""

    id: str
    next_attempt_at: float
    error: str


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """What waits to be sent: count and the oldest unsent event's `occurred_at`."""

    unsent: int
    oldest_occurred_at: float | None


class DomainOutbox(Protocol):
    """The `domain_outbox` table, read and marked by the (one, fenced) dispatcher."""

    async def due_events(self, limit: int, now: float) -> list[PendingEvent]:
        """Up to `limit` unsent events whose next attempt is due, in `seq` order."""

    async def fence(self, name: str, token: int) -> int:
        """Present a newly acquired fencing token; returns the outbox's token for `name`
        afterwards: `token` when accepted, a higher one when a newer holder exists (then
        every mark under `token` will be refused)."""

    async def mark_sent(self, name: str, token: int, ids: Sequence[str], now: float) -> int:
        """Mark these events sent, in one transaction that first checks `token` is still
        the newest for `name`; raises `FencedOut` (marking nothing) when it is not.
        Returns how many rows changed (already sent ones are left as they are)."""

    async def mark_failed(self, name: str, token: int, failures: Sequence[SendFailure]) -> None:
        """Count a failed attempt for each event and schedule its next one (fenced, as
        `mark_sent`)."""

    async def prune(self, sent_before: float) -> int:
        """Delete events sent before `sent_before`; returns how many."""

    async def backlog(self) -> OutboxBacklog:
        """Unsent events: how many, and the oldest one's time (the dispatcher's lag)."""
