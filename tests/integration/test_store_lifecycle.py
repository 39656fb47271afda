"""Leases, retries, deadlines and poison in the SQL store on SQLite, PostgreSQL and
MariaDB, driven by a fake clock: time moves when the test says, nothing sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from inferline.adapters.sql.store import SqlJobStore
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import (
    DEADLINE_PASSED,
    Job,
    JobStatus,
    NewJob,
    Outcome,
    OutcomeKind,
    RetryPolicy,
)
from inferline.testing.clock import FakeClock

MODEL = "moving-average"
POLICY = RetryPolicy(base_seconds=10.0, max_seconds=60.0)
LEASE = 10.0


def new_job(**overrides: object) -> NewJob:
    values: dict[str, object] = {
        "id": new_job_id(),
        "tenant": "t1",
        "model": MODEL,
        "model_version": "1",
        "input": {"series": [1.0, 2.0, 3.0]},
        "metadata": {"source": "test"},
    }
    values.update(overrides)
    return NewJob(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(store_url: str, clock: FakeClock) -> AsyncIterator[SqlJobStore]:
    store = SqlJobStore(store_url, clock=clock)
    await store.start()
    yield store
    await store.close()


async def create(store: SqlJobStore, *jobs: NewJob) -> list[Job]:
    return [job for job, _ in await store.create_jobs(list(jobs))]  # type: ignore[misc]


async def stored(store: SqlJobStore, job_id: str) -> Job:
    job = await store.get_job("t1", job_id)
    assert job is not None
    return job


async def fail(store: SqlJobStore, job: Job) -> Job:
    [failed] = await store.complete_jobs(
        [Outcome(job.id, job.attempts, OutcomeKind.FAILED, error="boom")], POLICY
    )
    return failed


async def test_a_claim_changes_a_job_exactly_as_the_domain_start_does(
    store: SqlJobStore, clock: FakeClock
) -> None:
    fresh, retried = await create(store, new_job(priority=1), new_job())
    [first] = await store.claim_jobs_by_id([retried.id], "w0", LEASE)
    clock.advance(1)
    waiting = await fail(store, first)
    clock.set(waiting.available_at)
    claims: list[tuple[Job, Callable[[], Awaitable[list[Job]]]]] = [
        (fresh, lambda: store.claim_jobs(MODEL, 1, "w1", LEASE)),
        (retried, lambda: store.claim_jobs_by_id([retried.id], "w1", LEASE)),
    ]
    for job, claim in claims:
        expected = await stored(store, job.id)
        expected.start("w1", clock.now() + LEASE, clock.now())
        assert await claim() == [expected]  # the set-based UPDATE is Job.start
        assert await stored(store, job.id) == expected
    assert (await stored(store, retried.id)).started_at == first.started_at


async def test_retries_wait_out_their_backoff(store: SqlJobStore, clock: FakeClock) -> None:
    [job] = await create(store, new_job(max_attempts=3))
    for attempt in (1, 2):
        [running] = await store.claim_jobs(MODEL, 1, "w1", LEASE)
        assert running.attempts == attempt
        failed_at = clock.advance(2)
        failed = await fail(store, running)
        ceiling = POLICY.base_seconds * 2 ** (attempt - 1)
        assert failed.status is JobStatus.FAILED and failed.updated_at == failed_at
        assert failed_at + ceiling / 2 <= failed.available_at <= failed_at + ceiling
        clock.set(failed.available_at - 0.001)
        assert await store.claim_jobs(MODEL, 1, "w1", LEASE) == []
        assert await store.runnable_jobs(10, clock.now()) == []
        clock.set(failed.available_at)  # due at that very instant
        assert await store.runnable_jobs(10, clock.now()) == [(MODEL, job.id)]
    [last] = await store.claim_jobs(MODEL, 1, "w1", LEASE)
    dead = await fail(store, last)
    assert (dead.status, dead.attempts, dead.finished_at) == (JobStatus.DEAD, 3, clock.now())
    timeline = await store.job_events("t1", job.id)
    assert [e.status.value for e in timeline] == [
        "queued",
        *["running", "failed"] * 2,
        "running",
        "dead",
    ]
    assert timeline[0].at == job.created_at and timeline[-1].at == clock.now()


async def test_leases_run_out_by_the_clock(store: SqlJobStore, clock: FakeClock) -> None:
    start = clock.now()
    await create(store, new_job(max_attempts=1, priority=1), new_job(max_attempts=3))
    kept, lost = await store.claim_jobs(MODEL, 2, "w1", LEASE)
    assert kept.lease_until == lost.lease_until == start + LEASE
    clock.advance(5)
    await store.extend_leases("w1", [kept.id], LEASE)  # the heartbeat: until start + 15
    await store.extend_leases("w2", [lost.id], 60)  # not w2's job: no effect
    clock.set(start + LEASE)
    assert await store.recover_expired_leases(POLICY) == []  # good to its last instant
    clock.advance(1)
    [recovered] = await store.recover_expired_leases(POLICY)
    assert recovered.id == lost.id and recovered.status is JobStatus.FAILED
    assert recovered.available_at == clock.now()  # retried at once, no backoff
    assert recovered.error == "worker w1 lost its lease (crashed or hung)"
    assert await store.active_workers() == {"w1": 1}
    assert [j.id for j in await store.claim_jobs_by_id([lost.id], "w2", LEASE)] == [lost.id]
    clock.set(start + 15)
    assert await store.recover_expired_leases(POLICY) == []
    clock.advance(0.001)
    [out_of_attempts] = await store.recover_expired_leases(POLICY)
    assert out_of_attempts.id == kept.id and out_of_attempts.status is JobStatus.DEAD
    assert out_of_attempts.finished_at == clock.now()
    assert await store.active_workers() == {"w2": 1}


async def test_waiting_jobs_expire_at_their_deadline(store: SqlJobStore, clock: FakeClock) -> None:
    deadline = clock.now() + 30
    late, timeless = await create(store, new_job(deadline=deadline), new_job())
    clock.set(deadline - 0.001)
    assert await store.expire_overdue() == []
    assert sorted(await store.runnable_jobs(10, clock.now())) == sorted(
        [(MODEL, late.id), (MODEL, timeless.id)]
    )
    clock.set(deadline)
    assert await store.claim_jobs_by_id([late.id], "w1", LEASE) == []  # no longer runnable
    clock.advance(0.001)
    [expired] = await store.expire_overdue()
    assert (expired.id, expired.status, expired.error) == (
        late.id,
        JobStatus.EXPIRED,
        DEADLINE_PASSED,
    )
    assert expired.finished_at == expired.updated_at == clock.now()
    assert (await stored(store, timeless.id)).status is JobStatus.QUEUED
    retried = await store.retry_job("t1", late.id)
    assert retried.deadline is None and retried.available_at == clock.now()
    assert (await stored(store, late.id)).deadline is None  # the dropped deadline is saved
    assert len(await store.claim_jobs(MODEL, 2, "w1", LEASE)) == 2


async def test_client_changes_poison_and_release_record_the_clocks_time(
    store: SqlJobStore, clock: FakeClock
) -> None:
    cancelled, poisoned, released = await create(store, *(new_job() for _ in range(3)))
    assert cancelled.created_at == cancelled.available_at == clock.now()
    at = clock.advance(1)
    assert (await store.cancel_job("t1", cancelled.id)).finished_at == at
    at = clock.advance(1)
    retried = await store.retry_job("t1", cancelled.id)
    assert retried.available_at == retried.updated_at == at and retried.finished_at is None
    at = clock.advance(1)
    [buried] = await store.bury_poison({poisoned.id: 4, released.id: 3})
    assert buried.id == poisoned.id and buried.finished_at == at
    [running] = await store.claim_jobs_by_id([released.id], "w1", LEASE)
    at = clock.advance(1)
    [back] = await store.release_jobs("w1", [released.id])
    assert back.status is JobStatus.QUEUED
    assert (back.attempts, back.available_at, back.updated_at) == (0, at, at)
    assert back.started_at == running.started_at
    events = await store.job_events("t1", released.id)
    assert [e.at for e in events] == [released.created_at, running.updated_at, at]


async def test_publishing_and_pruning_go_by_the_clock(store: SqlJobStore, clock: FakeClock) -> None:
    start = clock.now()
    [job] = await create(store, new_job())
    [running] = await store.claim_jobs(MODEL, 1, "w1", LEASE)
    await store.complete_jobs(
        [Outcome(job.id, running.attempts, OutcomeKind.SUCCEEDED, result={"y": 1})], POLICY
    )
    await store.mark_published([e.seq for e in await store.unpublished_events(10)])
    clock.set(start + 60)
    assert await store.prune(60, 3600) == 0  # events from `start`: not older than 60 s yet
    clock.advance(0.001)
    assert await store.prune(60, 3600) == 3  # queued, running, succeeded
    assert await stored(store, job.id) is not None
    clock.set(start + 3600.001)
    assert await store.prune(60, 3600) == 1  # the finished job itself
    assert await store.get_job("t1", job.id) is None
