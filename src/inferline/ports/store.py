"""The job store: one database behind small ports, each consumer using the narrowest.

| port | module | used by |
| --- | --- | --- |
| `JobRepository` | `repository.py` | `JobService` (submit, get, list, cancel, retry, timeline) |
| `ClaimQueue` | `claims.py` | workers, job sources, the queue dispatcher's sweep |
| `Outbox` | `outbox.py` | the relay; the worker's maintenance (prune) |
| `WorkerRegistry` | `workers.py` | workers (heartbeats), the dashboard |
| `JobStatistics` | `statistics.py` | the queue monitor, the dashboard |

`adapters/sql/SqlJobStore` implements them all in one class; on SQLite (a file in a
temporary folder) it is also the embedded adapter that unit tests use. `JobStore`,
the union with the connection's lifecycle, is for the composition root alone.
"""

from __future__ import annotations

from typing import Protocol

from inferline.ports.claims import ClaimQueue
from inferline.ports.outbox import Outbox
from inferline.ports.repository import JobRepository
from inferline.ports.statistics import JobStatistics
from inferline.ports.workers import WorkerRegistry


class WorkerStore(ClaimQueue, WorkerRegistry, Outbox, Protocol):
    """What a worker uses: claims, outcomes and leases; its heartbeat row; pruning."""


class DashboardStore(JobStatistics, WorkerRegistry, Protocol):
    """What the dashboard reads: counts, finished jobs and the workers alive."""


class JobStore(JobRepository, ClaimQueue, Outbox, WorkerRegistry, JobStatistics, Protocol):
    """Every port in one database; every method is one transaction (`bootstrap` only)."""

    async def start(self) -> None:
        """Connect and apply migrations."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> None:
        """Raise if the database does not answer."""
