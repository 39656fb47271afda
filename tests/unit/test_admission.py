"""Queue admission: which submits the store must count exactly, and which the cache refuses."""

from __future__ import annotations

import pytest

from inferline.application.admission import MIN_HEADROOM, Admission, QueueDepths
from inferline.domain.errors import Overloaded
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import Job, JobStatus, NewJob


def new_job(model: str = "m", key: str | None = None) -> NewJob:
    return NewJob(new_job_id(), "t", model, "1", {}, idempotency_key=key)


def depths(**waiting: int) -> QueueDepths:
    counted = QueueDepths()
    counted.update({model: {"queued": n} for model, n in waiting.items()})
    return counted


def test_far_below_the_limit_nothing_is_counted() -> None:
    admission = Admission(depths(m=10), max_waiting=1_000_000)
    assert admission.headroom == 100_000
    assert admission.exact_limit([new_job() for _ in range(1000)]) is None


def test_near_the_limit_the_store_counts() -> None:
    limit = 1_000_000
    admission = Admission(depths(m=limit - 100_000), max_waiting=limit)
    assert admission.exact_limit([new_job("other")]) is None
    assert admission.exact_limit([new_job("other"), new_job("m")]) == limit


def test_small_limits_are_always_counted() -> None:
    admission = Admission(depths(), max_waiting=5)
    assert admission.headroom == MIN_HEADROOM
    assert admission.exact_limit([new_job()]) == 5


def test_without_a_recent_count_the_store_counts() -> None:
    admission = Admission(QueueDepths(), max_waiting=1_000_000)  # the monitor never counted
    assert admission.exact_limit([new_job()]) == 1_000_000


def test_own_submits_count_until_the_next_refresh() -> None:
    counted = depths(m=880_000)
    admission = Admission(counted, max_waiting=1_000_000)
    assert admission.exact_limit([new_job()]) is None
    created = Job(
        id="j",
        tenant="t",
        model="m",
        model_version="1",
        status=JobStatus.QUEUED,
        input={},
        result=None,
        error=None,
        attempts=0,
        max_attempts=3,
        priority=0,
        idempotency_key=None,
        metadata={},
        deadline=None,
        created_at=0.0,
        updated_at=0.0,
    )
    counted.add_waiting([created] * 20_000)
    assert admission.exact_limit([new_job()]) == 1_000_000


def test_a_queue_seen_full_refuses_unless_a_key_must_be_looked_up() -> None:
    admission = Admission(depths(m=5), max_waiting=5)
    with pytest.raises(Overloaded) as refused:
        admission.refuse_if_seen_full([new_job()])
    assert refused.value.retry_after == 5.0
    admission.refuse_if_seen_full([new_job(key="k")])  # may be a resubmit: the store decides
    admission.refuse_if_seen_full([new_job("other")])
