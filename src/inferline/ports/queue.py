"""The job queue port: hands job ids to workers, at least once, until they acknowledge.

The job store stays the source of truth; a queue message carries a job id only.
The embedded mode needs no queue (workers claim rows from the store itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class JobMessage(BaseModel):
    """What a queue carries for one job: its id and model, nothing else."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    model: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message handed to one consumer; `deliveries` counts how often it was handed out."""

    message_id: str
    job_id: str
    model: str
    deliveries: int = 1


class JobQueue(Protocol):
    """Per-model queues of job ids with consumer groups, acknowledgements and reclaim."""

    async def start(self) -> None:
        """Connect (raises while the server is unreachable)."""

    async def close(self) -> None:
        """Disconnect."""

    async def ping(self) -> None:
        """Raise if the server does not answer."""

    async def enqueue(self, messages: list[JobMessage]) -> None:
        """Append job ids to their models' queues."""

    async def missing(self, messages: list[JobMessage]) -> list[JobMessage]:
        """The messages whose job is not waiting in (or held from) its queue."""

    async def read(
        self, model: str, consumer: str, count: int, block_seconds: float
    ) -> list[Delivery]:
        """Up to `count` new messages for `consumer`, waiting up to `block_seconds`."""

    async def reclaim(
        self, model: str, consumer: str, min_idle_seconds: float, count: int
    ) -> list[Delivery]:
        """Take over messages that other consumers held unacknowledged for `min_idle_seconds`."""

    async def touch(self, model: str, consumer: str, message_ids: list[str]) -> None:
        """Heartbeat: these messages are still being worked on by `consumer`."""

    async def ack(self, deliveries: list[Delivery]) -> None:
        """Done with these messages: they will not be delivered again."""

    async def forget_consumers(self, model: str, idle_seconds: float) -> int:
        """Remove consumers that hold nothing and were idle this long; returns how many."""
