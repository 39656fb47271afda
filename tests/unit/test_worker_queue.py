"""A worker reading job ids from a queue (`QueueJobSource`) on the in-process queue and the
embedded store: acknowledgement after commit, a dead consumer's messages, poison.

Both the queue's idle times and the store's job time are the test's `FakeClock`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inferline.adapters.memory.queue import InProcessJobQueue
from inferline.adapters.sql.store import SqlJobStore
from inferline.core.metrics import Metrics
from inferline.core.settings import Settings
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import Job, JobStatus, NewJob, QueueFull, RetryPolicy
from inferline.models.moving_average import MovingAverage
from inferline.ports.claims import JobSource
from inferline.ports.queue import JobMessage
from inferline.runtime.dispatch import QueueDispatcher
from inferline.runtime.registry import ModelRegistry
from inferline.runtime.serving import ModelServer
from inferline.testing.clock import FakeClock
from inferline.testing.polling import poll_until_async
from inferline.worker.sources import QueueJobSource
from inferline.worker.worker import Worker, WorkerConfig

MODEL = MovingAverage.name
RECLAIM_IDLE_SECONDS = 30.0


@pytest.fixture
def queue(clock: FakeClock) -> InProcessJobQueue:
    return InProcessJobQueue(clock)


@pytest.fixture
async def worker(
    embedded_store: SqlJobStore, queue: InProcessJobQueue, clock: FakeClock
) -> AsyncIterator[Worker]:
    models = ModelServer(ModelRegistry([MovingAverage]), Settings(), Metrics(), clock=clock)
    await models.load_all()

    def source(worker_id: str) -> JobSource:
        return QueueJobSource(
            embedded_store,
            queue,
            worker_id,
            lease_seconds=10,
            block_seconds=0.01,
            reclaim_idle_seconds=RECLAIM_IDLE_SECONDS,
        )

    worker = Worker(
        embedded_store,
        models,
        Metrics(),
        RetryPolicy(),
        WorkerConfig(lease_seconds=0.2, poll_interval_seconds=0.01),
        worker_id="w1",
        source=source,
        clock=clock,
    )
    await worker.start()
    yield worker
    await worker.stop()
    await models.stop()


async def submit(store: SqlJobStore, count: int, *, max_attempts: int = 3) -> list[str]:
    new = [
        NewJob(
            new_job_id(),
            "t1",
            MODEL,
            "1",
            {"series": [1.0, 3.0], "window": 2},
            max_attempts=max_attempts,
        )
        for _ in range(count)
    ]
    stored = await store.create_jobs(new)
    return [s[0].id for s in stored if not isinstance(s, QueueFull)]


def message(job_id: str) -> JobMessage:
    return JobMessage(job_id=job_id, model=MODEL)


async def reaches(store: SqlJobStore, job_id: str, status: JobStatus) -> Job:
    found: Job | None = await poll_until_async(
        lambda: store.get_job("t1", job_id),
        f"job {job_id} {status.value}",
        timeout=10,
        accept=lambda job: job is not None and job.status is status,
        interval=0.01,
    )
    assert found is not None
    return found


async def test_dispatched_jobs_run_and_their_messages_are_acked_after_commit(
    embedded_store: SqlJobStore, queue: InProcessJobQueue, worker: Worker
) -> None:
    ids = await submit(embedded_store, 3)
    dispatcher = QueueDispatcher(embedded_store, queue)
    await dispatcher.dispatch(await embedded_store.unpublished_events(100))  # the relay's part
    for job_id in ids:
        job = await reaches(embedded_store, job_id, JobStatus.SUCCEEDED)
        assert job.result == {"smoothed": [2.0], "forecast": 2.0}
    absent: list[JobMessage] = await poll_until_async(
        lambda: queue.missing([message(i) for i in ids]),
        "every message acknowledged",
        timeout=10,
        accept=lambda absent: len(absent) == 3,
        interval=0.01,
    )
    assert sorted(m.job_id for m in absent) == sorted(ids)


async def test_a_dead_consumers_message_is_reclaimed_once_idle(
    embedded_store: SqlJobStore, queue: InProcessJobQueue, worker: Worker, clock: FakeClock
) -> None:
    # The dead consumer read it before the worker started reading this model.
    [job_id] = await submit(embedded_store, 1)
    await queue.enqueue([message(job_id)])
    assert [d.job_id for d in await queue.read(MODEL, "dead", 1, 0)] == [job_id]
    clock.advance(RECLAIM_IDLE_SECONDS)
    job = await reaches(embedded_store, job_id, JobStatus.SUCCEEDED)
    assert job.attempts == 1  # it never ran before: the store counted one attempt
    absent: list[JobMessage] = await poll_until_async(
        lambda: queue.missing([message(job_id)]), "the message acknowledged", timeout=10
    )
    assert absent == [message(job_id)]


async def test_a_message_delivered_more_often_than_its_attempts_buries_its_job(
    embedded_store: SqlJobStore, queue: InProcessJobQueue, worker: Worker, clock: FakeClock
) -> None:
    [job_id] = await submit(embedded_store, 1, max_attempts=2)
    await queue.enqueue([message(job_id)])
    await queue.read(MODEL, "crashed-1", 1, 0)  # two consumers died holding it
    await queue.reclaim(MODEL, "crashed-2", 0, 10)
    clock.advance(RECLAIM_IDLE_SECONDS)  # the worker takes it over: a third delivery
    dead = await reaches(embedded_store, job_id, JobStatus.DEAD)
    assert dead.attempts == 0
    assert dead.error is not None
    assert dead.error.startswith("poison message: delivered 3 times")
    absent: list[JobMessage] = await poll_until_async(
        lambda: queue.missing([message(job_id)]), "the poison message acknowledged", timeout=10
    )
    assert absent == [message(job_id)]
