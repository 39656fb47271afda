"""The data plane over the embedded adapters (SQLite, in-process bus, the moving average),
as every transport sees it: no HTTP, no server process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from inferline.adapters.memory.events import InProcessEventBus
from inferline.application.data_plane import DataPlane
from inferline.application.jobs import SubmitJob
from inferline.apps.timeseries.use_cases import series_job, submit_series
from inferline.bootstrap import Container, Role, build_container
from inferline.core.settings import Settings
from inferline.domain.errors import NotFound
from inferline.domain.jobs import Job, JobEvent, JobStatus
from inferline.models.moving_average import MovingAverage
from inferline.runtime.registry import ModelRegistry
from inferline.testing.polling import poll_until_async

SERIES = {"series": [1.0, 2.0, 3.0, 4.0], "window": 2}


def _container(db_url: str) -> Container:
    settings = Settings(database_url=db_url, models=[MovingAverage.name])
    roles = frozenset({Role.API, Role.WORKER, Role.RELAY})
    return build_container(settings, roles, registry=ModelRegistry([MovingAverage]))


@pytest.fixture
async def container(db_url: str) -> AsyncIterator[Container]:
    container = _container(db_url)
    await container.start()
    await container.wait_until_loaded()
    yield container
    await container.stop()


async def _finished(plane: DataPlane, tenant: str, job_id: str) -> JobStatus:
    async def read() -> Job:
        return await plane.get_job(tenant, job_id)

    job: Job = await poll_until_async(
        read, f"job {job_id} finished", timeout=30, accept=lambda job: job.status.is_terminal
    )
    return job.status


async def test_a_job_submitted_through_the_plane_runs_and_is_listed(container: Container) -> None:
    plane = container.plane
    job, created = await plane.submit_job(SubmitJob("t1", "moving_average", SERIES))
    assert created and job.model == MovingAverage.name
    assert await _finished(plane, "t1", job.id) is JobStatus.SUCCEEDED
    assert [j.id for j in await plane.list_jobs("t1", model="moving_average")] == [job.id]
    assert await plane.list_jobs("t2") == []
    timeline = [event.type for event in await plane.job_timeline("t1", job.id)]
    assert timeline == ["job.queued", "job.running", "job.succeeded"]
    with pytest.raises(NotFound):
        await plane.get_job("t2", job.id)


async def test_a_subscription_sees_only_its_tenants_events_of_its_model(
    container: Container,
) -> None:
    plane = container.plane
    bus = container.bus
    assert isinstance(bus, InProcessEventBus)
    subscription = plane.subscribe("t1", model="moving_average")
    seen: list[JobEvent] = []

    async def collect() -> None:
        async for event in subscription:
            seen.append(event)

    reader = asyncio.create_task(collect())
    try:
        await poll_until_async(lambda: bus.subscriber_count, "subscribed", timeout=10)
        other, _ = await plane.submit_job(SubmitJob("t2", "moving-average", SERIES))
        mine, _ = await plane.submit_job(SubmitJob("t1", "moving-average", SERIES))
        await poll_until_async(
            lambda: [e.type for e in seen if e.job_id == mine.id],
            "the tenant's job finished",
            timeout=30,
            accept=lambda types: "job.succeeded" in types,
        )
        await _finished(plane, "t2", other.id)
        relay = container.relay
        assert relay is not None
        await poll_until_async(
            lambda: relay.published,
            "both jobs' 6 events published",
            timeout=30,
            accept=lambda published: published >= 6,
        )
        assert {event.job_id for event in seen} == {mine.id}
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await subscription.aclose()
    assert bus.subscriber_count == 0


async def test_a_subscription_to_an_unknown_model_is_refused_at_once(
    container: Container,
) -> None:
    with pytest.raises(NotFound):
        container.plane.subscribe("t1", model="no-such-model")


async def test_readiness_names_what_is_missing_until_the_process_has_started(
    db_url: str,
) -> None:
    container = _container(db_url)
    before = container.plane.readiness()
    assert not before.ready
    assert f"model {MovingAverage.name}: loading" in before.reasons
    await container.start()
    try:
        await container.wait_until_loaded()
        assert container.plane.readiness().ready
        assert container.plane.readiness().reasons == []
    finally:
        await container.stop()


async def test_health_and_queue_counts_describe_this_process(container: Container) -> None:
    plane = container.plane
    health = plane.health()
    assert health.ready and health.roles == ["api", "relay", "worker"]
    assert [m.name for m in health.models] == [MovingAverage.name]
    assert [w.in_flight for w in health.workers] == [0]
    assert health.database.database_ok and health.relay_published is not None
    assert plane.model("moving_average").loaded
    counts = plane.queue_counts(MovingAverage.name)
    assert (counts.waiting, counts.running) == (0, 0)


async def test_the_timeseries_app_submits_a_series_as_a_job(container: Container) -> None:
    plane = container.plane
    job = await submit_series(plane, "t1", "moving_average", [1.0, 2.0, 3.0], {"window": 2}, {})
    assert job.input == {"series": [1.0, 2.0, 3.0], "window": 2}
    assert (await series_job(plane, "t1", job.id)).id == job.id
    assert await _finished(plane, "t1", job.id) is JobStatus.SUCCEEDED
