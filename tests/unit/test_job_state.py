"""The job state machine and the retry rule."""

from __future__ import annotations

import random
import uuid

import pytest

from inferline.domain.ids import new_job_id
from inferline.domain.jobs import (
    ALLOWED_TRANSITIONS,
    TERMINAL_STATUSES,
    JobStatus,
    RetryPolicy,
    can_transition,
)


def test_succeeded_is_final() -> None:
    assert not any(can_transition(JobStatus.SUCCEEDED, s) for s in JobStatus)


@pytest.mark.parametrize("status", [JobStatus.DEAD, JobStatus.CANCELLED, JobStatus.EXPIRED])
def test_other_terminal_statuses_can_only_be_requeued(status: JobStatus) -> None:
    assert ALLOWED_TRANSITIONS[status] == frozenset({JobStatus.QUEUED})


def test_queued_job_cannot_finish_without_running() -> None:
    assert not can_transition(JobStatus.QUEUED, JobStatus.SUCCEEDED)
    assert can_transition(JobStatus.QUEUED, JobStatus.RUNNING)


def test_every_status_is_in_the_table() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(JobStatus)
    assert {s for s in JobStatus if s.is_terminal} == TERMINAL_STATUSES


def test_retry_until_attempts_run_out() -> None:
    policy = RetryPolicy()
    assert policy.after_failure(attempts=1, max_attempts=3) is JobStatus.FAILED
    assert policy.after_failure(attempts=2, max_attempts=3) is JobStatus.FAILED
    assert policy.after_failure(attempts=3, max_attempts=3) is JobStatus.DEAD


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_seconds=1.0, max_seconds=10.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= ceiling * 0.5
        assert max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling * 0.2  # jittered, not constant


def test_job_ids_are_uuid7_strictly_increasing_within_a_process() -> None:
    ids = [new_job_id() for _ in range(20_000)]  # far more than one per millisecond
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
