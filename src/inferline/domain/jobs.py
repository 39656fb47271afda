"""Jobs: statuses, the allowed transitions and the retry rule. Pure Python, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

DEFAULT_TENANT = "default"
DEADLINE_PASSED = "deadline passed before the job ran"  # the error of an expired job


class JobStatus(StrEnum):
    """Where a job is in its life. `failed` will be retried; `dead` gave up."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.DEAD, JobStatus.CANCELLED, JobStatus.EXPIRED}
)
CLAIMABLE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.FAILED})
CANCELLABLE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.FAILED, JobStatus.RUNNING})
RETRYABLE_STATUSES = frozenset({JobStatus.DEAD, JobStatus.CANCELLED, JobStatus.EXPIRED})

ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.EXPIRED}),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.DEAD,
            JobStatus.QUEUED,  # released on graceful shutdown
            JobStatus.CANCELLED,
            JobStatus.EXPIRED,
        }
    ),
    JobStatus.FAILED: frozenset(
        {JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.EXPIRED, JobStatus.DEAD}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.DEAD: frozenset({JobStatus.QUEUED}),  # manual retry
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED}),
    JobStatus.EXPIRED: frozenset({JobStatus.QUEUED}),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    """True when the state machine allows `current -> target`."""
    return target in ALLOWED_TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped."""

    base_seconds: float = 1.0
    max_seconds: float = 300.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        draw = (rng or random).random()
        return ceiling * (0.5 + 0.5 * draw)

    def after_failure(self, attempts: int, max_attempts: int) -> JobStatus:
        """`failed` (will retry) while attempts remain, else `dead`."""
        return JobStatus.FAILED if attempts < max_attempts else JobStatus.DEAD


@dataclass(slots=True)
class NewJob:
    """A job as the client asked for it, validated, before it is stored."""

    id: str
    tenant: str
    model: str
    model_version: str
    input: dict[str, Any]
    priority: int = 0
    max_attempts: int = 3
    idempotency_key: str | None = None
    deadline: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueueFull:
    """A job not created: `model` already had `limit` jobs waiting (queued or failed)."""

    model: str
    limit: int


@dataclass(slots=True)
class Job:
    """A stored job. Times are UNIX seconds (UTC)."""

    id: str
    tenant: str
    model: str
    model_version: str
    status: JobStatus
    input: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    max_attempts: int
    priority: int
    idempotency_key: str | None
    metadata: dict[str, Any]
    deadline: float | None
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    available_at: float = 0.0
    lease_until: float | None = None
    worker_id: str | None = None


class OutcomeKind(StrEnum):
    """What happened to one claimed job."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the runtime decides retry (`failed`) or `dead` from attempts
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end of one attempt; `attempt` fences out stale workers."""

    job_id: str
    attempt: int
    kind: OutcomeKind
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A state change of a job, as written to the outbox and published."""

    seq: int
    job_id: str
    tenant: str
    model: str
    type: str
    status: JobStatus
    at: float
    job: dict[str, Any]


def iso_time(seconds: float | None) -> str | None:
    """UNIX seconds as an ISO-8601 UTC string with milliseconds."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def job_view(job: Job, *, include_input: bool = True) -> dict[str, Any]:
    """The public shape of a job (API responses and events)."""
    view: dict[str, Any] = {
        "id": job.id,
        "model": job.model,
        "model_version": job.model_version,
        "status": job.status.value,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "idempotency_key": job.idempotency_key,
        "metadata": job.metadata,
        "deadline": iso_time(job.deadline),
        "created_at": iso_time(job.created_at),
        "started_at": iso_time(job.started_at),
        "finished_at": iso_time(job.finished_at),
        "updated_at": iso_time(job.updated_at),
    }
    if include_input:
        view["input"] = job.input
    return view


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    """A worker's latest heartbeat: who it is, what it serves, how busy it is."""

    id: str
    host: str
    pid: int
    models: list[str]
    in_flight: int
    started_at: float
    heartbeat_at: float
