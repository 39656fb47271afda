"""The job use cases (`JobService`) on the embedded store, without HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from inferline.adapters.sql.store import SqlJobStore
from inferline.application.admission import QueueDepths
from inferline.application.jobs import JobService, SubmitJob
from inferline.core.metrics import Metrics
from inferline.domain.errors import InvalidInput, InvalidTransition, NotFound, Overloaded
from inferline.domain.jobs import JobStatus
from inferline.models.moving_average import MovingAverage
from inferline.runtime.monitor import QueueMonitor
from inferline.runtime.registry import ModelRegistry
from inferline.testing.clock import FakeClock

MODEL = MovingAverage.name
SERIES = {"series": [1.0, 2.0, 3.0, 4.0], "window": 2}


class Commits:
    """Counts the service's commit signal (what wakes workers and the relay)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def job_service(
    store: SqlJobStore,
    clock: FakeClock,
    *,
    max_queued_jobs: int = 1000,
    commits: Commits | None = None,
) -> JobService:
    return JobService(
        store,
        ModelRegistry([MovingAverage]),
        Metrics(),
        QueueDepths(),
        default_max_attempts=3,
        max_queued_jobs=max_queued_jobs,
        on_commit=commits or Commits(),
        clock=clock,
    )


@pytest.fixture
def commits() -> Commits:
    return Commits()


@pytest.fixture
def service(embedded_store: SqlJobStore, clock: FakeClock, commits: Commits) -> JobService:
    return job_service(embedded_store, clock, commits=commits)


def submit_job(
    tenant: str = "t1", *, model: str = MODEL, input: Any = SERIES, **fields: Any
) -> SubmitJob:
    return SubmitJob(tenant=tenant, model=model, input=input, **fields)


def prometheus(service: JobService) -> Metrics:
    """The service's metrics are the Prometheus ones (`job_service` gave it those)."""
    assert isinstance(service.metrics, Metrics)
    return service.metrics


def queued_total(service: JobService) -> float:
    value = prometheus(service).registry.get_sample_value(
        "inferline_jobs_total", {"model": MODEL, "status": "queued"}
    )
    return value or 0.0


async def test_submit_stores_a_queued_job_at_the_clocks_time(
    service: JobService, clock: FakeClock, commits: Commits
) -> None:
    job, created = await service.submit(submit_job(model="moving_average", priority=5))
    assert created
    assert commits.count == 1
    assert queued_total(service) == 1
    assert (job.model, job.model_version, job.status) == (MODEL, "1", JobStatus.QUEUED)
    assert (job.priority, job.max_attempts, job.attempts) == (5, 3, 0)
    assert job.created_at == job.available_at == clock.now()
    assert await service.get("t1", job.id) == job


async def test_a_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    service: JobService,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await service.submit(submit_job(input={"series": [1.0], "window": 0}))
    assert [d["field"] for d in refused.value.details] == ["input.window"]
    with pytest.raises(InvalidInput, match="max_attempts"):
        await service.submit(submit_job(max_attempts=101))
    with pytest.raises(NotFound):
        await service.submit(submit_job(model="no-such-model"))
    assert await service.list_jobs("t1") == []


async def test_a_deadline_must_be_ahead_of_the_clock(service: JobService, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput, match="deadline is in the past"):
        await service.submit(submit_job(deadline=clock.now()))
    job, _ = await service.submit(submit_job(deadline=clock.now() + 0.5))
    assert job.deadline == clock.now() + 0.5
    clock.advance(1)
    with pytest.raises(InvalidInput, match="deadline is in the past"):
        await service.submit(submit_job(deadline=clock.now() - 0.5))


async def test_an_idempotency_key_returns_the_first_job_per_tenant(
    service: JobService, commits: Commits
) -> None:
    first, created = await service.submit(submit_job(idempotency_key="k"))
    again, created_again = await service.submit(submit_job(idempotency_key="k", priority=9))
    assert created
    assert not created_again
    assert again == first
    assert again.priority == 0
    other_tenant, created_other = await service.submit(submit_job("t2", idempotency_key="k"))
    assert created_other
    assert other_tenant.id != first.id
    assert commits.count == 2  # a replay commits nothing


async def test_concurrent_submits_with_one_key_create_one_job(service: JobService) -> None:
    results = await asyncio.gather(
        *(service.submit(submit_job(idempotency_key="same")) for _ in range(10))
    )
    assert len({job.id for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(await service.list_jobs("t1")) == 1


async def test_a_batch_is_stored_whole_or_not_at_all(service: JobService) -> None:
    stored = await service.submit_many([submit_job(priority=i) for i in range(3)])
    assert [job.priority for job, _ in stored] == [0, 1, 2]
    assert all(c for _, c in stored)
    bad = [submit_job(), submit_job(input={"series": []}), submit_job()]
    with pytest.raises(InvalidInput, match=r"^jobs\[1\]: "):
        await service.submit_many(bad)
    assert len(await service.list_jobs("t1")) == 3


async def test_lists_page_newest_first_and_filter_by_status_and_model(
    service: JobService,
) -> None:
    ids = [(await service.submit(submit_job()))[0].id for _ in range(5)]
    await service.submit(submit_job("t2"))
    await service.cancel("t1", ids[1])
    first = await service.list_jobs("t1", limit=2)
    assert [j.id for j in first] == [ids[4], ids[3]]
    rest = await service.list_jobs("t1", limit=10, cursor=first[-1].id)
    assert [j.id for j in rest] == [ids[2], ids[1], ids[0]]
    cancelled = await service.list_jobs("t1", status=JobStatus.CANCELLED)
    assert [j.id for j in cancelled] == [ids[1]]
    by_alias = await service.list_jobs("t1", model="moving_average")
    assert len(by_alias) == 5
    with pytest.raises(NotFound):
        await service.list_jobs("t1", model="no-such-model")


async def test_cancel_then_retry_follow_the_lifecycle(
    service: JobService, clock: FakeClock, commits: Commits
) -> None:
    job, _ = await service.submit(submit_job())
    clock.advance(2)
    cancelled = await service.cancel("t1", job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.finished_at == clock.now()
    with pytest.raises(InvalidTransition, match="only unfinished jobs can be cancelled"):
        await service.cancel("t1", job.id)
    clock.advance(3)
    retried = await service.retry("t1", job.id)
    assert retried.status is JobStatus.QUEUED
    assert (retried.attempts, retried.finished_at, retried.available_at) == (0, None, clock.now())
    with pytest.raises(InvalidTransition, match="only dead, cancelled or expired"):
        await service.retry("t1", job.id)
    assert commits.count == 3  # submit, cancel, retry
    with pytest.raises(NotFound):
        await service.cancel("t2", job.id)  # another tenant's job does not exist for t2


async def test_the_timeline_lists_every_change_oldest_first(
    service: JobService, clock: FakeClock
) -> None:
    job, _ = await service.submit(submit_job())
    clock.advance(1)
    await service.cancel("t1", job.id)
    clock.advance(1)
    await service.retry("t1", job.id)
    events = await service.timeline("t1", job.id)
    assert [(e.status, e.at - events[0].at) for e in events] == [
        ("queued", 0.0),
        ("cancelled", 1.0),
        ("queued", 2.0),
    ]
    with pytest.raises(NotFound):
        await service.timeline("t2", job.id)
    with pytest.raises(NotFound):
        await service.get("t1", "0190d9a8-0000-7000-8000-000000000000")


async def test_a_models_queue_admits_up_to_its_limit(
    embedded_store: SqlJobStore, clock: FakeClock
) -> None:
    service = job_service(embedded_store, clock, max_queued_jobs=3)
    monitor = QueueMonitor(embedded_store, service.depths, prometheus(service), [MODEL])
    kept, _ = await service.submit(submit_job(idempotency_key="kept"))
    await service.submit(submit_job())
    with pytest.raises(Overloaded, match="has 3 jobs waiting, its limit"):
        await service.submit_many([submit_job(), submit_job()])  # one place left: neither
    await service.submit(submit_job())
    with pytest.raises(Overloaded, match="has 3 jobs waiting") as refused:
        await service.submit(submit_job())
    assert refused.value.retry_after == 5.0
    replay, created = await service.submit(submit_job(idempotency_key="kept"))
    assert replay.id == kept.id
    assert not created
    await service.cancel("t1", kept.id)
    await monitor.refresh()  # the monitor's next count sees the place that freed
    await service.submit(submit_job())
    assert len(await service.list_jobs("t1", status=JobStatus.QUEUED)) == 3
