"""The worker registry port: which workers live, by their heartbeats and their leases."""

from __future__ import annotations

from typing import Protocol

from inferline.domain.jobs import WorkerBeat


class WorkerRegistry(Protocol):
    """Heartbeat rows of worker processes, in any process. Written by workers, read by
    the dashboard."""

    async def record_worker(self, beat: WorkerBeat) -> None:
        """Insert or refresh a worker's heartbeat row."""

    async def remove_worker(self, worker_id: str) -> None:
        """A worker stopped cleanly: forget it."""

    async def live_workers(self, since: float) -> list[WorkerBeat]:
        """Workers whose last heartbeat is at or after `since`, newest first."""

    async def active_workers(self) -> dict[str, int]:
        """Workers holding an unexpired lease right now, with the number of jobs each holds."""
