"""The SQL job store on SQLite, PostgreSQL and MariaDB: every method, for real."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from inferline.adapters.sql.store import SqlJobStore
from inferline.domain.errors import Conflict, NotFound
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import (
    JobStatus,
    NewJob,
    Outcome,
    OutcomeKind,
    QueueFull,
    RetryPolicy,
    WorkerBeat,
)
from inferline.testing.polling import poll_until_async
from tests.support.jobs import admitted

MODEL = "moving-average"
POLICY = RetryPolicy(base_seconds=60.0, max_seconds=60.0)


def new_job(**overrides: object) -> NewJob:
    values: dict[str, object] = {
        "id": new_job_id(),
        "tenant": "t1",
        "model": MODEL,
        "model_version": "1",
        "input": {"series": [1.5, 2.25, 3.0], "note": "naïve ☃"},
        "metadata": {"source": "test"},
    }
    values.update(overrides)
    return NewJob(**values)  # type: ignore[arg-type]


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlJobStore]:
    store = SqlJobStore(store_url)
    await store.start()
    yield store
    await store.close()


async def test_migrations_are_idempotent_and_ping_works(store: SqlJobStore) -> None:
    second = SqlJobStore(store.url)
    await second.start()  # already at head: nothing to do, no error
    await second.ping()
    await second.close()


async def test_create_and_read_round_trips_json_and_precise_times(store: SqlJobStore) -> None:
    deadline = time.time() + 3600.123456
    [(job, created)] = admitted(await store.create_jobs([new_job(deadline=deadline, priority=5)]))
    assert created
    loaded = await store.get_job("t1", job.id)
    assert loaded is not None
    assert loaded.input == {"series": [1.5, 2.25, 3.0], "note": "naïve ☃"}
    assert loaded.metadata == {"source": "test"}
    assert loaded.status is JobStatus.QUEUED and loaded.priority == 5
    assert loaded.deadline == pytest.approx(deadline, abs=1e-4)  # double precision
    assert abs(loaded.created_at - time.time()) < 5
    assert await store.get_job("other-tenant", job.id) is None


async def test_idempotency_key_returns_the_existing_job(store: SqlJobStore) -> None:
    [(first, created)] = admitted(await store.create_jobs([new_job(idempotency_key="k1")]))
    results = admitted(
        await store.create_jobs([new_job(idempotency_key="k1"), new_job(idempotency_key="k2")])
    )
    assert created
    assert results[0] == (first, False)
    assert results[1][1] is True
    [(other_tenant, created)] = admitted(
        await store.create_jobs([new_job(tenant="t2", idempotency_key="k1")])
    )
    assert created and other_tenant.id != first.id


async def test_concurrent_submissions_with_one_key_create_one_job(store: SqlJobStore) -> None:
    results = [
        admitted(r)
        for r in await asyncio.gather(
            *(store.create_jobs([new_job(idempotency_key="same")]) for _ in range(5))
        )
    ]
    ids = {r[0][0].id for r in results}
    assert len(ids) == 1
    assert sum(r[0][1] for r in results) == 1


async def test_the_queue_limit_holds_for_concurrent_writers_of_several_processes(
    store: SqlJobStore,
) -> None:
    others = [SqlJobStore(store.url, migrate=False) for _ in range(3)]  # like 3 API processes
    for other in others:
        await other.start()
    try:
        results = await asyncio.gather(
            *(s.create_jobs([new_job(), new_job()], max_waiting=5) for s in others * 8)
        )
    finally:
        for other in others:
            await other.close()
    outcomes = [outcome for result in results for outcome in result]
    created = [o for o in outcomes if not isinstance(o, QueueFull)]
    assert len(created) == 5 and all(is_new for _, is_new in created)
    assert [o for o in outcomes if isinstance(o, QueueFull)] == [QueueFull(MODEL, 5)] * 43
    assert (await store.queue_counts())[MODEL] == {"queued": 5}


async def test_the_queue_limit_counts_waiting_jobs_and_spares_known_keys(
    store: SqlJobStore,
) -> None:
    [(keyed, _), *_] = admitted(
        await store.create_jobs(
            [new_job(idempotency_key="kept"), new_job(), new_job()], max_waiting=4
        )
    )
    whole = await store.create_jobs([new_job(), new_job()], max_waiting=4, all_or_nothing=True)
    assert whole == [QueueFull(MODEL, 4)] * 2  # one fits, two do not: none is created
    one_by_one = await store.create_jobs([new_job(), new_job()], max_waiting=4)
    assert one_by_one[0][1] is True and one_by_one[1] == QueueFull(MODEL, 4)  # type: ignore[index]
    again = await store.create_jobs([new_job(idempotency_key="kept")], max_waiting=4)
    assert again == [(keyed, False)]  # the queue is full, but this job exists already
    assert len(await store.claim_jobs(MODEL, 2, "w1", 30)) == 2  # running jobs do not wait
    assert all(
        created
        for _, created in admitted(await store.create_jobs([new_job(), new_job()], max_waiting=4))
    )
    other_model = await store.create_jobs([new_job(model="other")], max_waiting=4)
    assert other_model[0][1] is True  # type: ignore[index]  # each model has its own limit


async def test_list_jobs_pages_newest_first_with_filters(store: SqlJobStore) -> None:
    created = [job for job, _ in admitted(await store.create_jobs([new_job() for _ in range(5)]))]
    page = await store.list_jobs("t1", limit=3)
    assert [j.id for j in page] == sorted((j.id for j in created), reverse=True)[:3]
    rest = await store.list_jobs("t1", limit=3, before_id=page[-1].id)
    assert len(rest) == 2
    assert await store.list_jobs("t1", status=JobStatus.SUCCEEDED) == []
    assert len(await store.list_jobs("t1", model=MODEL, status=JobStatus.QUEUED)) == 5


async def test_claim_takes_highest_priority_first_and_counts_the_attempt(
    store: SqlJobStore,
) -> None:
    await store.create_jobs([new_job(priority=p) for p in (0, 9, 5)])
    claimed = await store.claim_jobs(MODEL, 2, "w1", 30)
    assert [j.priority for j in claimed] == [9, 5]
    assert all(j.status is JobStatus.RUNNING and j.attempts == 1 for j in claimed)
    assert all(j.worker_id == "w1" and j.lease_until and j.started_at for j in claimed)
    assert len(await store.claim_jobs(MODEL, 10, "w2", 30)) == 1
    assert await store.claim_jobs(MODEL, 10, "w2", 30) == []


async def test_concurrent_claimers_never_share_a_job(store: SqlJobStore) -> None:
    await store.create_jobs([new_job() for _ in range(200)])
    others = [SqlJobStore(store.url, migrate=False) for _ in range(3)]
    for other in others:
        await other.start()
    try:
        batches = await asyncio.gather(
            *(s.claim_jobs(MODEL, 40, f"w{i}", 30) for i, s in enumerate(others * 3))
        )
    finally:
        for other in others:
            await other.close()
    ids = [j.id for batch in batches for j in batch]
    assert len(ids) == len(set(ids))
    rest = await store.claim_jobs(MODEL, 500, "last", 30)
    assert len(ids) + len(rest) == 200


async def test_claim_by_id_takes_only_runnable_jobs(store: SqlJobStore) -> None:
    jobs = [j for j, _ in admitted(await store.create_jobs([new_job() for _ in range(3)]))]
    await store.cancel_job("t1", jobs[2].id)
    claimed = await store.claim_jobs_by_id([jobs[0].id, jobs[2].id, "missing"], "w1", 30)
    assert [j.id for j in claimed] == [jobs[0].id]
    assert claimed[0].status is JobStatus.RUNNING and claimed[0].attempts == 1
    assert await store.claim_jobs_by_id([jobs[0].id], "w2", 30) == []  # already running
    assert [j.id for j in await store.claim_jobs_by_id([jobs[1].id], "w2", 30)] == [jobs[1].id]


async def test_complete_records_results_and_fences_stale_attempts(store: SqlJobStore) -> None:
    await store.create_jobs([new_job(max_attempts=2) for _ in range(3)])
    ok, retry, stale = await store.claim_jobs(MODEL, 3, "w1", 30)
    changed = await store.complete_jobs(
        [
            Outcome(ok.id, 1, OutcomeKind.SUCCEEDED, result={"forecast": 2.5, "s": "é"}),
            Outcome(retry.id, 1, OutcomeKind.FAILED, error="boom"),
            Outcome(stale.id, 7, OutcomeKind.SUCCEEDED, result={}),
        ],
        POLICY,
    )
    assert {j.id for j in changed} == {ok.id, retry.id}
    done = await store.get_job("t1", ok.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert done.result == {"forecast": 2.5, "s": "é"} and done.finished_at is not None
    failed = await store.get_job("t1", retry.id)
    assert failed is not None and failed.status is JobStatus.FAILED and failed.error == "boom"
    assert failed.available_at > time.time() + 20  # backoff: not claimable yet
    assert await store.claim_jobs_by_id([retry.id], "w1", 30) == []
    # a second result for a finished job is dropped: exactly one result
    again = await store.complete_jobs([Outcome(ok.id, 1, OutcomeKind.SUCCEEDED, result={})], POLICY)
    assert again == []


async def test_last_failed_attempt_makes_the_job_dead(store: SqlJobStore) -> None:
    await store.create_jobs([new_job(max_attempts=1)])
    [job] = await store.claim_jobs(MODEL, 1, "w1", 30)
    [dead] = await store.complete_jobs([Outcome(job.id, 1, OutcomeKind.FAILED, error="x")], POLICY)
    assert dead.status is JobStatus.DEAD and dead.finished_at is not None


async def test_leases_extend_release_and_recover(store: SqlJobStore) -> None:
    await store.create_jobs([new_job(max_attempts=1), new_job(max_attempts=3), new_job()])
    a, b, c = await store.claim_jobs(MODEL, 3, "w1", 0.01)
    await store.extend_leases("w1", [c.id], 60)
    await store.extend_leases("someone-else", [a.id], 60)  # not theirs: no effect
    released = await store.release_jobs("w1", [c.id])
    assert [j.status for j in released] == [JobStatus.QUEUED] and released[0].attempts == 0
    lease_end = max(a.lease_until or 0, b.lease_until or 0)
    await poll_until_async(lambda: time.time() > lease_end, "the 10 ms leases ran out", timeout=5)
    recovered = {j.id: j for j in await store.recover_expired_leases(POLICY)}
    assert recovered[a.id].status is JobStatus.DEAD  # out of attempts
    assert recovered[b.id].status is JobStatus.FAILED
    assert "lost its lease" in (recovered[b.id].error or "")
    assert [j.id for j in await store.claim_jobs_by_id([b.id], "w2", 30)] == [b.id]


async def test_overdue_jobs_expire(store: SqlJobStore) -> None:
    [(job, _)] = admitted(await store.create_jobs([new_job(deadline=time.time() + 0.01)]))
    await poll_until_async(
        lambda: time.time() > (job.deadline or 0), "the deadline passed", timeout=5
    )
    assert await store.claim_jobs(MODEL, 1, "w1", 30) == []
    [expired] = await store.expire_overdue()
    assert expired.id == job.id and expired.status is JobStatus.EXPIRED


async def test_cancel_and_retry_follow_the_state_machine(store: SqlJobStore) -> None:
    [(job, _)] = admitted(await store.create_jobs([new_job()]))
    with pytest.raises(Conflict):
        await store.retry_job("t1", job.id)
    assert (await store.cancel_job("t1", job.id)).status is JobStatus.CANCELLED
    with pytest.raises(Conflict):
        await store.cancel_job("t1", job.id)
    retried = await store.retry_job("t1", job.id)
    assert retried.status is JobStatus.QUEUED and retried.attempts == 0
    with pytest.raises(NotFound):
        await store.cancel_job("t1", "nope")


async def test_bury_and_runnable_jobs(store: SqlJobStore) -> None:
    jobs = [j for j, _ in admitted(await store.create_jobs([new_job() for _ in range(3)]))]
    await store.claim_jobs_by_id([jobs[2].id], "w1", 30)
    runnable = await store.runnable_jobs(10, time.time())
    assert sorted(runnable) == sorted((MODEL, j.id) for j in jobs[:2])
    assert await store.runnable_jobs(10, time.time() - 3600) == []
    buried = await store.bury_poison({jobs[0].id: 4, jobs[1].id: 3, jobs[2].id: 9})
    assert [j.id for j in buried] == [jobs[0].id]  # within max_attempts, or running: left alone
    dead = await store.get_job("t1", jobs[0].id)
    assert dead is not None and dead.status is JobStatus.DEAD
    assert "delivered 4 times" in (dead.error or "")


async def test_counts_and_totals(store: SqlJobStore) -> None:
    await store.create_jobs([new_job() for _ in range(3)] + [new_job(tenant="t2")])
    await store.claim_jobs(MODEL, 1, "w1", 30)
    assert await store.queue_counts() == {MODEL: {"queued": 3, "running": 1}}
    assert await store.status_totals("t2") == {"queued": 1}
    assert sum((await store.status_totals()).values()) == 4


async def test_outbox_keeps_per_job_order_and_publishes_each_event(store: SqlJobStore) -> None:
    await store.create_jobs([new_job() for _ in range(4)])
    claimed = await store.claim_jobs(MODEL, 4, "w1", 30)
    await store.complete_jobs(
        [Outcome(j.id, 1, OutcomeKind.SUCCEEDED, result={"i": 1}) for j in claimed], POLICY
    )
    events = await store.unpublished_events(100)
    assert len(events) == 12
    by_job: dict[str, list[str]] = {}
    for event in events:
        by_job.setdefault(event.job_id, []).append(event.type)
    assert all(t == ["job.queued", "job.running", "job.succeeded"] for t in by_job.values())
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    await store.mark_published([e.seq for e in events[:5]])
    assert [e.seq for e in await store.unpublished_events(100)] == [e.seq for e in events[5:]]
    timeline = await store.job_events("t1", claimed[0].id)
    assert [e.status for e in timeline] == [
        JobStatus.QUEUED,
        JobStatus.RUNNING,
        JobStatus.SUCCEEDED,
    ]
    assert timeline[-1].job["result"] == {"i": 1}


async def test_prune_deletes_only_old_published_events_and_jobs(store: SqlJobStore) -> None:
    await store.create_jobs([new_job()])
    events = await store.unpublished_events(10)
    assert await store.prune(3600, None) == 0
    await store.mark_published([e.seq for e in events])
    assert await store.prune(-1, None) == 1
    assert await store.unpublished_events(10) == []


async def test_worker_heartbeats_are_upserted_listed_and_removed(store: SqlJobStore) -> None:
    started = time.time() - 60
    beat = WorkerBeat("w-1", "host-a", 41, ["moving-average"], 0, started, started + 1)
    await store.record_worker(beat)
    await store.record_worker(WorkerBeat("w-2", "host-b", 42, ["minilm"], 3, started, started + 2))
    now = time.time()
    fresh = WorkerBeat("w-1", "host-a", 41, ["moving-average"], 5, started, now)
    await store.record_worker(fresh)  # a second beat updates the same row
    assert await store.live_workers(since=now - 1) == [fresh]
    assert [w.id for w in await store.live_workers(since=started)] == ["w-1", "w-2"]
    await store.remove_worker("w-1")
    assert [w.id for w in await store.live_workers(since=started)] == ["w-2"]
