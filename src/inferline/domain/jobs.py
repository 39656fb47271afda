"""Jobs: statuses, the allowed transitions, the retry rule and the lifecycle. Pure Python, no I/O.

Every change of a job's status is a method of `Job` (`start`, `complete`,
`succeed`, `fail`, `lose_lease`, `expire`, `release`, `cancel`, `retry`, `bury`).
Each checks `ALLOWED_TRANSITIONS` and its own precondition, raises
`InvalidTransition` (changing nothing) when they do not hold, and otherwise sets
every field the change implies. Adapters load and lock jobs, call these, and save;
the time (`now`) is an argument, read by the caller from its injected `Clock`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from inferline.domain.errors import InvalidTransition

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
    JobStatus.QUEUED: frozenset(
        {
            JobStatus.RUNNING,
            JobStatus.CANCELLED,
            JobStatus.EXPIRED,
            JobStatus.DEAD,  # a poison message: delivered too often, never acknowledged
        }
    ),
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
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** max(0, attempt - 1))
        draw = rng.random() if rng is not None else random.random()
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

    # -- questions the lifecycle asks ------------------------------------------
    def overdue(self, now: float) -> bool:
        """Its deadline has passed (a job without one is never overdue)."""
        return self.deadline is not None and self.deadline <= now

    def runnable_at(self, now: float) -> bool:
        """A worker may start it: waiting, its backoff over, its deadline not passed."""
        return (
            self.status in CLAIMABLE_STATUSES and self.available_at <= now and not self.overdue(now)
        )

    def held_by(self, worker_id: str) -> bool:
        """Running under this worker's lease."""
        return self.status is JobStatus.RUNNING and self.worker_id == worker_id

    def lease_expired(self, now: float) -> bool:
        """Running, but its worker stopped extending the lease (crashed or hung)."""
        return (
            self.status is JobStatus.RUNNING
            and self.lease_until is not None
            and self.lease_until < now
        )

    def accepts(self, outcome: Outcome) -> bool:
        """The fence: only the current attempt of a running job may end it."""
        return self.status is JobStatus.RUNNING and self.attempts == outcome.attempt

    def is_poison(self, deliveries: int) -> bool:
        """Waiting, and its queue message came more often than it has attempts."""
        return self.status in CLAIMABLE_STATUSES and deliveries > self.max_attempts

    # -- transitions -------------------------------------------------------------
    def start(self, worker_id: str, lease_until: float, now: float) -> None:
        """A worker claims it: `running`, one more attempt, leased until `lease_until`.
        (The SQL store claims many at once with the same change, set-based.)"""
        if not self.runnable_at(now):
            raise self._refusal("only a waiting job that is due and within its deadline can start")
        self._move(JobStatus.RUNNING, now)
        self.attempts += 1
        self.worker_id, self.lease_until = worker_id, lease_until
        if self.started_at is None:
            self.started_at = now

    def complete(self, outcome: Outcome, policy: RetryPolicy, now: float) -> None:
        """End the running attempt as `outcome` says (succeeded, failed, expired)."""
        if not self.accepts(outcome):
            raise self._refusal(f"attempt {outcome.attempt} is not a running attempt of it")
        if outcome.kind is OutcomeKind.SUCCEEDED:
            self.succeed(outcome.result, now)
        elif outcome.kind is OutcomeKind.EXPIRED:
            self.expire(now, error=outcome.error)
        else:
            self.fail(outcome.error, policy, now)

    def succeed(self, result: dict[str, Any] | None, now: float) -> None:
        """The running attempt produced `result`: `succeeded`, final."""
        self._require_running("succeed")
        self._move(JobStatus.SUCCEEDED, now)
        self.result, self.error, self.finished_at = result, None, now
        self._drop_lease()

    def fail(
        self,
        error: str | None,
        policy: RetryPolicy,
        now: float,
        *,
        retry_at: float | None = None,
    ) -> None:
        """The running attempt failed: `failed`, due again after the policy's backoff
        (or at `retry_at`), or `dead` once its attempts are used up."""
        self._require_running("fail")
        status = policy.after_failure(self.attempts, self.max_attempts)
        self._move(status, now)
        self.error = error
        self._drop_lease()
        if status is JobStatus.DEAD:
            self.finished_at = now
        else:
            self.available_at = now + policy.delay(self.attempts) if retry_at is None else retry_at

    def lose_lease(self, policy: RetryPolicy, now: float) -> None:
        """Its worker vanished (the lease ran out): a failed attempt, retried at once,
        or `dead` when it was the last."""
        if not self.lease_expired(now):
            raise self._refusal("only a running job whose lease has run out can lose it")
        error = f"worker {self.worker_id} lost its lease (crashed or hung)"
        self.fail(error, policy, now, retry_at=now)

    def expire(self, now: float, *, error: str | None = DEADLINE_PASSED) -> None:
        """Its deadline passed before it could run: `expired`, final. The caller saw the
        deadline pass (the store selects overdue jobs; a worker's attempt reports it)."""
        self._move(JobStatus.EXPIRED, now)
        self.error, self.finished_at = error, now
        self._drop_lease()

    def release(self, worker_id: str, now: float) -> None:
        """Its worker shuts down before running it: `queued` again, due now, the attempt
        not counted."""
        if not self.held_by(worker_id):
            raise self._refusal(f"only a job running under worker {worker_id} can be released")
        self._move(JobStatus.QUEUED, now)
        self.attempts = max(0, self.attempts - 1)
        self.available_at = now
        self._drop_lease()

    def cancel(self, now: float) -> None:
        """The client gives up on it: `cancelled`, final unless retried."""
        if self.status not in CANCELLABLE_STATUSES:
            raise self._refusal("only unfinished jobs can be cancelled")
        self._move(JobStatus.CANCELLED, now)
        self.finished_at = now
        self._drop_lease()

    def retry(self, now: float) -> None:
        """The client runs a dead, cancelled or expired job again: `queued`, due now, with
        fresh attempts; a deadline that has passed is dropped."""
        if self.status not in RETRYABLE_STATUSES:
            raise self._refusal("only dead, cancelled or expired jobs can be retried")
        self._move(JobStatus.QUEUED, now)
        self.attempts, self.error, self.finished_at, self.available_at = 0, None, None, now
        if self.overdue(now):
            self.deadline = None

    def bury(self, deliveries: int, now: float) -> None:
        """A poison message: its job was delivered `deliveries` times and never
        acknowledged, more than its attempts allow: `dead`."""
        if not self.is_poison(deliveries):
            raise self._refusal(
                f"only a waiting job delivered more than {self.max_attempts} times is poison"
            )
        self._move(JobStatus.DEAD, now)
        self.finished_at = now
        self.error = (
            f"poison message: delivered {deliveries} times without being acknowledged "
            f"(max_attempts {self.max_attempts})"
        )
        self._drop_lease()

    # -- helpers -------------------------------------------------------------------
    def _move(self, status: JobStatus, now: float) -> None:
        if not can_transition(self.status, status):
            raise self._refusal(f"it cannot become {status.value}")
        self.status, self.updated_at = status, now

    def _require_running(self, action: str) -> None:
        if self.status is not JobStatus.RUNNING:
            raise self._refusal(f"only a running job can {action}")

    def _drop_lease(self) -> None:
        self.lease_until = self.worker_id = None

    def _refusal(self, reason: str) -> InvalidTransition:
        """The error of a refused change: `job <id> is <status>; <reason>`."""
        return InvalidTransition(
            f"job {self.id} is {self.status.value}; {reason}",
            details={"status": self.status.value},
        )


class OutcomeKind(StrEnum):
    """What happened to one claimed job."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # `Job.fail` decides retry (`failed`) or `dead` from the attempts
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
