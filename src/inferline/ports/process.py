"""The process port: what the data plane reports about the process that runs it.

The composition root (`bootstrap.Container`) implements it: which roles the process
plays, whether it may take traffic, and the state of its database check, workers and
relay. Readiness and health are answered from it without the API seeing the container.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class DatabaseCheck(Protocol):
    """The latest check of the job store (the queue monitor's, once a second)."""

    @property
    def database_ok(self) -> bool: ...

    @property
    def database_error(self) -> str | None: ...

    @property
    def checked_at(self) -> float | None: ...


class WorkerState(Protocol):
    """A job worker of this process, as the dashboard and `/health` show it."""

    @property
    def worker_id(self) -> str: ...

    @property
    def alive(self) -> bool: ...

    @property
    def in_flight(self) -> int: ...

    @property
    def last_claim_at(self) -> float | None: ...


class ProcessState(Protocol):
    """This process: its roles, start time, readiness and components."""

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def started_at(self) -> float: ...

    @property
    def ready(self) -> bool:
        """Connected, started and every model loaded (as the roles require)."""
        ...

    @property
    def database(self) -> DatabaseCheck: ...

    @property
    def workers(self) -> Sequence[WorkerState]: ...

    @property
    def relay_published(self) -> int | None:
        """Events the outbox relay published so far; None when this process runs no relay."""
        ...

    @property
    def domain_events(self) -> Mapping[str, Any] | None:
        """The domain event dispatcher's state (leader, sent, failed, last error); None
        when this process runs none."""
        ...

    def connection_problems(self) -> list[str]:
        """Why a server this process needs is not connected (empty when all are)."""
        ...
