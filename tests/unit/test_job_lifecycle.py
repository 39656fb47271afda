"""The job lifecycle in the domain: every transition, allowed and refused, with no I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from inferline.domain.errors import Conflict, InvalidTransition
from inferline.domain.jobs import (
    ALLOWED_TRANSITIONS,
    DEADLINE_PASSED,
    Job,
    JobStatus,
    Outcome,
    OutcomeKind,
    RetryPolicy,
)
from inferline.testing.clock import FakeClock

NOW = 1_700_000_000.0
POLICY = RetryPolicy(base_seconds=4.0, max_seconds=60.0)
MAX_ATTEMPTS = 3


def make_job(status: JobStatus, *, attempts: int = 1, **fields: object) -> Job:
    """A job of `status` with the fields that status implies, last changed before NOW."""
    running = status is JobStatus.RUNNING
    job = Job(
        id="job-1",
        tenant="t1",
        model="moving-average",
        model_version="1",
        status=status,
        input={"series": [1.0, 2.0]},
        result=None,
        error="boom" if status in (JobStatus.FAILED, JobStatus.DEAD) else None,
        attempts=0 if status is JobStatus.QUEUED else attempts,
        max_attempts=MAX_ATTEMPTS,
        priority=0,
        idempotency_key=None,
        metadata={},
        deadline=None,
        created_at=NOW - 100,
        updated_at=NOW - 50,
        started_at=None if status is JobStatus.QUEUED else NOW - 60,
        finished_at=NOW - 50 if status.is_terminal else None,
        available_at=NOW - 50,
        lease_until=NOW - 1 if running else None,  # run out: recoverable
        worker_id="w1" if running else None,
    )
    return dataclasses.replace(job, **fields)  # type: ignore[arg-type]


def outcome(job: Job, kind: OutcomeKind) -> Outcome:
    return Outcome(job.id, job.attempts, kind, result={"forecast": 1.5}, error="bad input")


# Each action with arguments under which only the job's status decides.
ACTIONS: dict[str, Callable[[Job], None]] = {
    "start": lambda j: j.start("w2", NOW + 10, NOW),
    "complete(succeeded)": lambda j: j.complete(outcome(j, OutcomeKind.SUCCEEDED), POLICY, NOW),
    "complete(failed)": lambda j: j.complete(outcome(j, OutcomeKind.FAILED), POLICY, NOW),
    "complete(expired)": lambda j: j.complete(outcome(j, OutcomeKind.EXPIRED), POLICY, NOW),
    "succeed": lambda j: j.succeed({"forecast": 1.5}, NOW),
    "fail": lambda j: j.fail("boom", POLICY, NOW),
    "lose_lease": lambda j: j.lose_lease(POLICY, NOW),
    "expire": lambda j: j.expire(NOW),
    "release": lambda j: j.release("w1", NOW),
    "cancel": lambda j: j.cancel(NOW),
    "retry": lambda j: j.retry(NOW),
    "bury": lambda j: j.bury(MAX_ATTEMPTS + 1, NOW),
}

S = JobStatus
# (action, from) -> to, for a job with attempts left; every other pair is refused.
ALLOWED: dict[tuple[str, JobStatus], JobStatus] = {
    ("start", S.QUEUED): S.RUNNING,
    ("start", S.FAILED): S.RUNNING,
    ("complete(succeeded)", S.RUNNING): S.SUCCEEDED,
    ("complete(failed)", S.RUNNING): S.FAILED,
    ("complete(expired)", S.RUNNING): S.EXPIRED,
    ("succeed", S.RUNNING): S.SUCCEEDED,
    ("fail", S.RUNNING): S.FAILED,
    ("lose_lease", S.RUNNING): S.FAILED,
    ("expire", S.QUEUED): S.EXPIRED,
    ("expire", S.FAILED): S.EXPIRED,
    ("expire", S.RUNNING): S.EXPIRED,
    ("release", S.RUNNING): S.QUEUED,
    ("cancel", S.QUEUED): S.CANCELLED,
    ("cancel", S.FAILED): S.CANCELLED,
    ("cancel", S.RUNNING): S.CANCELLED,
    ("retry", S.DEAD): S.QUEUED,
    ("retry", S.CANCELLED): S.QUEUED,
    ("retry", S.EXPIRED): S.QUEUED,
    ("bury", S.QUEUED): S.DEAD,
    ("bury", S.FAILED): S.DEAD,
}
PAIRS = [(action, status) for action in ACTIONS for status in JobStatus]


@pytest.mark.parametrize(("action", "status"), PAIRS)
def test_each_action_moves_allowed_statuses_and_refuses_the_rest(
    action: str, status: JobStatus
) -> None:
    job = make_job(status)
    before = dataclasses.replace(job)
    if (action, status) in ALLOWED:
        ACTIONS[action](job)
        assert job.status is ALLOWED[action, status]
        assert job.updated_at == NOW
        assert job.status in ALLOWED_TRANSITIONS[status]
    else:
        with pytest.raises(InvalidTransition) as refused:
            ACTIONS[action](job)
        assert refused.value.message.startswith(f"job job-1 is {status.value}; ")
        assert refused.value.details == {"status": status.value}
        assert job == before  # a refused change changes nothing


@pytest.mark.parametrize("action", ["complete(failed)", "fail", "lose_lease"])
def test_a_failure_on_the_last_attempt_is_dead(action: str) -> None:
    job = make_job(JobStatus.RUNNING, attempts=MAX_ATTEMPTS)
    ACTIONS[action](job)
    assert job.status is JobStatus.DEAD and job.finished_at == NOW


def test_the_methods_cover_exactly_the_transition_table() -> None:
    edges = {(status, target) for (_, status), target in ALLOWED.items()}
    edges.add((JobStatus.RUNNING, JobStatus.DEAD))  # the last failed attempt, above
    table = {(s, t) for s, targets in ALLOWED_TRANSITIONS.items() for t in targets}
    assert edges == table


def test_start_counts_an_attempt_and_leases_the_job() -> None:
    job = make_job(JobStatus.QUEUED)
    job.start("w2", NOW + 10, NOW)
    assert (job.attempts, job.worker_id, job.lease_until) == (1, "w2", NOW + 10)
    assert job.started_at == NOW and job.finished_at is None
    retried = make_job(JobStatus.FAILED, attempts=1)
    retried.start("w2", NOW + 10, NOW)
    assert retried.attempts == 2
    assert retried.started_at == NOW - 60  # the first attempt's start is kept
    assert retried.error == "boom"  # the last error stays until the job ends


@pytest.mark.parametrize(
    "fields",
    [{"available_at": NOW + 0.001}, {"deadline": NOW}, {"deadline": NOW - 5}],
    ids=["backoff-not-over", "deadline-now", "deadline-passed"],
)
def test_a_waiting_job_starts_only_when_due_and_within_its_deadline(
    fields: dict[str, Any],
) -> None:
    job = make_job(JobStatus.FAILED, **fields)
    assert not job.runnable_at(NOW)
    with pytest.raises(InvalidTransition, match="due and within its deadline"):
        job.start("w2", NOW + 10, NOW)
    assert make_job(JobStatus.FAILED, deadline=NOW + 0.001).runnable_at(NOW)


def test_complete_fences_out_a_stale_attempt() -> None:
    job = make_job(JobStatus.RUNNING, attempts=2)
    stale = Outcome(job.id, 1, OutcomeKind.SUCCEEDED, result={"late": True})
    assert not job.accepts(stale)
    with pytest.raises(InvalidTransition, match="attempt 1 is not a running attempt"):
        job.complete(stale, POLICY, NOW)
    assert job.status is JobStatus.RUNNING and job.result is None


def test_success_records_the_result_and_ends_the_lease() -> None:
    job = make_job(JobStatus.RUNNING, error="earlier attempt failed")
    job.complete(outcome(job, OutcomeKind.SUCCEEDED), POLICY, NOW)
    assert job.result == {"forecast": 1.5} and job.error is None
    assert job.finished_at == NOW
    assert job.lease_until is None and job.worker_id is None


def test_a_failure_backs_off_by_the_policy() -> None:
    for attempts in (1, 2):
        job = make_job(JobStatus.RUNNING, attempts=attempts)
        job.complete(outcome(job, OutcomeKind.FAILED), POLICY, NOW)
        ceiling = POLICY.base_seconds * 2 ** (attempts - 1)
        assert NOW + ceiling / 2 <= job.available_at <= NOW + ceiling
        assert job.error == "bad input" and job.attempts == attempts
        assert job.finished_at is None and job.lease_until is None and job.worker_id is None


def test_a_permanent_failure_is_dead_on_its_first_attempt() -> None:
    job = make_job(JobStatus.RUNNING, attempts=1)
    refused = Outcome(job.id, job.attempts, OutcomeKind.FAILED, error="too long", permanent=True)
    job.complete(refused, POLICY, NOW)
    assert job.status is JobStatus.DEAD
    assert job.error == "too long"
    assert job.finished_at == NOW


def test_an_expired_attempt_keeps_the_workers_error() -> None:
    job = make_job(JobStatus.RUNNING)
    job.complete(outcome(job, OutcomeKind.EXPIRED), POLICY, NOW)
    assert job.error == "bad input" and job.finished_at == NOW and job.worker_id is None
    waiting = make_job(JobStatus.QUEUED, deadline=NOW - 1)
    waiting.expire(NOW)
    assert waiting.error == DEADLINE_PASSED and waiting.finished_at == NOW


def test_a_lost_lease_is_retried_at_once() -> None:
    held = make_job(JobStatus.RUNNING, lease_until=NOW)
    assert not held.lease_expired(NOW)  # a lease is good up to its last instant
    with pytest.raises(InvalidTransition, match="lease has run out"):
        held.lose_lease(POLICY, NOW)
    job = make_job(JobStatus.RUNNING, lease_until=NOW - 0.001)
    job.lose_lease(POLICY, NOW)
    assert job.status is JobStatus.FAILED and job.available_at == NOW
    assert job.error == "worker w1 lost its lease (crashed or hung)"
    assert job.lease_until is None and job.worker_id is None


def test_release_gives_back_the_attempt_and_only_to_its_worker() -> None:
    other = make_job(JobStatus.RUNNING)
    with pytest.raises(InvalidTransition, match="under worker w9"):
        other.release("w9", NOW)
    job = make_job(JobStatus.RUNNING, attempts=2)
    job.release("w1", NOW)
    assert job.status is JobStatus.QUEUED and job.attempts == 1
    assert job.available_at == NOW and job.lease_until is None and job.worker_id is None


def test_cancel_ends_the_job_and_explains_a_refusal() -> None:
    job = make_job(JobStatus.RUNNING)
    job.cancel(NOW)
    assert job.finished_at == NOW and job.lease_until is None and job.worker_id is None
    done = make_job(JobStatus.SUCCEEDED)
    with pytest.raises(Conflict) as refused:  # HTTP 409, as before
        done.cancel(NOW)
    assert refused.value.message == "job job-1 is succeeded; only unfinished jobs can be cancelled"


def test_retry_starts_afresh_and_drops_a_passed_deadline() -> None:
    late = make_job(JobStatus.EXPIRED, attempts=2, deadline=NOW, error=DEADLINE_PASSED)
    late.retry(NOW)
    assert (late.status, late.attempts, late.error, late.finished_at) == (S.QUEUED, 0, None, None)
    assert late.available_at == NOW and late.deadline is None
    assert late.runnable_at(NOW)
    early = make_job(JobStatus.CANCELLED, deadline=NOW + 60)
    early.retry(NOW)
    assert early.deadline == NOW + 60
    with pytest.raises(Conflict) as refused:
        make_job(JobStatus.QUEUED).retry(NOW)
    assert refused.value.message == (
        "job job-1 is queued; only dead, cancelled or expired jobs can be retried"
    )


def test_only_a_message_delivered_more_often_than_the_attempts_is_poison() -> None:
    job = make_job(JobStatus.QUEUED)
    assert not job.is_poison(MAX_ATTEMPTS)
    with pytest.raises(InvalidTransition, match=f"more than {MAX_ATTEMPTS} times"):
        job.bury(MAX_ATTEMPTS, NOW)
    job.bury(MAX_ATTEMPTS + 2, NOW)
    assert job.status is JobStatus.DEAD and job.finished_at == NOW
    assert job.error == (
        f"poison message: delivered {MAX_ATTEMPTS + 2} times without being acknowledged "
        f"(max_attempts {MAX_ATTEMPTS})"
    )


def test_the_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(NOW)
    assert clock.now() == NOW
    assert clock.advance(2.5) == NOW + 2.5 == clock.now()
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)
    clock.set(NOW - 10)  # a corrected wall clock may go back
    assert clock.now() == NOW - 10
