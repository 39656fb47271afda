"""The outbox port: job events committed with their state change, published afterwards."""

from __future__ import annotations

from typing import Protocol

from inferline.domain.jobs import JobEvent


class Outbox(Protocol):
    """The `job_events` table as a transactional outbox. Used by the relay (publish)
    and the worker's maintenance (prune)."""

    async def unpublished_events(self, limit: int) -> list[JobEvent]:
        """Outbox events not yet published, oldest first (per job, in commit order)."""

    async def mark_published(self, seqs: list[int]) -> None:
        """Record that these events reached the event bus."""

    async def prune(
        self, event_retention_seconds: float, job_retention_seconds: float | None
    ) -> int:
        """Delete old published events, heartbeat rows of workers gone for a day, and
        (when asked) old finished jobs. Returns rows deleted."""
