"""The worker and `JobProcessor` on the embedded store: claims, retries, leases, deadlines.

Job time is the test's `FakeClock`: backoff, lease ends and deadlines pass only when
the test advances it, so nothing here sleeps. The worker's own loops pause in real
time (a short lease makes them quick); the test waits on conditions.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from inferline.adapters.sql.store import SqlJobStore
from inferline.core.metrics import Metrics
from inferline.core.settings import Settings
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import (
    DEADLINE_PASSED,
    Job,
    JobStatus,
    NewJob,
    Outcome,
    OutcomeKind,
    QueueFull,
    RetryPolicy,
    WorkerBeat,
)
from inferline.ports.model import InferenceModel, ModelInput, ModelOutput
from inferline.runtime.registry import ModelRegistry
from inferline.runtime.serving import ModelServer
from inferline.testing.clock import FakeClock
from inferline.testing.polling import poll_until_async
from inferline.worker.worker import Worker, WorkerConfig

TENANT = "t1"
POLICY = RetryPolicy(base_seconds=10.0, max_seconds=60.0)


class HeldInput(ModelInput):
    """A value to double; `fail` makes the model raise; `hold` makes it wait for the gate."""

    value: float
    fail: bool = False
    hold: bool = False


class HeldOutput(ModelOutput):
    doubled: float


class HeldModel(InferenceModel):
    """One item a batch; the test opens the gate that held batches wait for."""

    name = "held"
    input_schema = HeldInput
    output_schema = HeldOutput
    max_batch_size = 1
    max_wait_ms = 0.0

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.holding = threading.Event()
        self.seen: list[float] = []

    def predict_batch(self, inputs: list[HeldInput]) -> list[HeldOutput]:
        self.seen.extend(item.value for item in inputs)
        if any(item.hold for item in inputs):
            self.holding.set()
            if not self.gate.wait(30):
                raise RuntimeError("the test never opened the gate")
        if any(item.fail for item in inputs):
            raise RuntimeError("asked to fail")
        return [HeldOutput(doubled=2 * item.value) for item in inputs]


@pytest.fixture
async def model(clock: FakeClock) -> AsyncIterator[tuple[ModelServer, HeldModel]]:
    held = HeldModel()
    server = ModelServer(
        ModelRegistry([HeldModel]),
        Settings(),
        Metrics(),
        factories={HeldModel.name: lambda: held},
        clock=clock,
    )
    await server.load_all()
    yield server, held
    held.gate.set()
    await server.stop()


class Workers:
    """Starts workers on the embedded store and stops them after the test."""

    def __init__(self, store: SqlJobStore, models: ModelServer, clock: FakeClock) -> None:
        self.store, self.models, self.clock = store, models, clock
        self.started: list[Worker] = []

    async def start(self, *, lease_seconds: float = 0.2, grace_seconds: float = 5.0) -> Worker:
        """A worker whose loops pause `lease_seconds / 4` (maintenance) in real time."""
        worker = Worker(
            self.store,
            self.models,
            Metrics(),
            POLICY,
            WorkerConfig(
                lease_seconds=lease_seconds,
                in_flight_per_model=4,
                poll_interval_seconds=0.01,
                shutdown_grace_seconds=grace_seconds,
            ),
            worker_id=f"w{len(self.started) + 1}",
            clock=self.clock,
        )
        await worker.start()
        self.started.append(worker)
        return worker


@pytest.fixture
async def workers(
    embedded_store: SqlJobStore, model: tuple[ModelServer, HeldModel], clock: FakeClock
) -> AsyncIterator[Workers]:
    started = Workers(embedded_store, model[0], clock)
    yield started
    model[1].gate.set()
    for worker in started.started:
        await worker.stop()


async def submit(
    store: SqlJobStore, *, max_attempts: int = 3, deadline: float | None = None, **values: Any
) -> str:
    """Store a job of the held model whose input is `values`; returns its id."""
    new = NewJob(
        new_job_id(),
        TENANT,
        HeldModel.name,
        "1",
        values,
        max_attempts=max_attempts,
        deadline=deadline,
    )
    [stored] = await store.create_jobs([new])
    assert not isinstance(stored, QueueFull)
    return stored[0].id


async def reaches(store: SqlJobStore, job_id: str, status: JobStatus, attempts: int) -> Job:
    """The job once it is `status` after `attempts` attempts (waiting for the worker)."""
    found: Job | None = await poll_until_async(
        lambda: store.get_job(TENANT, job_id),
        f"job {job_id} {status.value} after {attempts} attempts",
        timeout=10,
        accept=lambda job: job is not None and (job.status, job.attempts) == (status, attempts),
        interval=0.01,
    )
    assert found is not None
    return found


async def statuses(store: SqlJobStore, job_id: str) -> list[str]:
    return [event.status.value for event in await store.job_events(TENANT, job_id)]


def counted(worker: Worker, metric: str, **labels: str) -> float:
    return worker.metrics.registry.get_sample_value(metric, labels) or 0.0


async def test_a_claimed_job_runs_and_succeeds(
    embedded_store: SqlJobStore, workers: Workers, clock: FakeClock
) -> None:
    worker = await workers.start()
    job_id = await submit(embedded_store, value=2.0)
    job = await reaches(embedded_store, job_id, JobStatus.SUCCEEDED, attempts=1)
    assert job.result == {"doubled": 4.0}
    assert job.error is None
    assert job.started_at == job.finished_at == clock.now()
    assert (job.worker_id, job.lease_until) == (None, None)
    assert await statuses(embedded_store, job_id) == ["queued", "running", "succeeded"]
    assert counted(worker, "inferline_jobs_total", model="held", status="succeeded") == 1
    beats: list[WorkerBeat] = await poll_until_async(
        lambda: embedded_store.live_workers(since=clock.now()), "the worker's heartbeat", timeout=5
    )
    assert [(beat.id, beat.models) for beat in beats] == [("w1", ["held"])]


async def test_a_failing_job_is_retried_after_its_backoff_then_dead(
    embedded_store: SqlJobStore, workers: Workers, clock: FakeClock
) -> None:
    worker = await workers.start()
    job_id = await submit(embedded_store, value=1.0, fail=True)
    first = await reaches(embedded_store, job_id, JobStatus.FAILED, attempts=1)
    assert first.error == "RuntimeError: asked to fail"
    assert clock.now() + 5 <= first.available_at <= clock.now() + 10  # 50-100 % of 10 s
    assert await embedded_store.claim_jobs("held", 1, "another", 1) == []  # not due yet
    clock.set(first.available_at)
    second = await reaches(embedded_store, job_id, JobStatus.FAILED, attempts=2)
    assert clock.now() + 10 <= second.available_at <= clock.now() + 20  # twice the wait
    clock.set(second.available_at)
    dead = await reaches(embedded_store, job_id, JobStatus.DEAD, attempts=3)
    assert dead.finished_at == clock.now()
    assert dead.error == "RuntimeError: asked to fail"
    assert await statuses(embedded_store, job_id) == [
        "queued",
        *["running", "failed"] * 2,
        "running",
        "dead",
    ]
    assert counted(worker, "inferline_job_retries_total", model="held") == 2
    assert counted(worker, "inferline_jobs_total", model="held", status="dead") == 1


async def test_a_crashed_workers_jobs_come_back_when_their_lease_runs_out(
    embedded_store: SqlJobStore, workers: Workers, clock: FakeClock
) -> None:
    retried = await submit(embedded_store, value=3.0)
    last_try = await submit(embedded_store, max_attempts=1, value=4.0)
    crashed = await embedded_store.claim_jobs("held", 2, "crashed", 30)  # then it died
    assert {job.id for job in crashed} == {retried, last_try}
    await workers.start()
    clock.advance(31)  # past the lease: the live worker's maintenance sees it
    recovered = await reaches(embedded_store, retried, JobStatus.SUCCEEDED, attempts=2)
    assert recovered.result == {"doubled": 6.0}
    assert await statuses(embedded_store, retried) == [
        "queued",
        "running",
        "failed",
        "running",
        "succeeded",
    ]
    lost = await reaches(embedded_store, last_try, JobStatus.DEAD, attempts=1)
    assert lost.error == "worker crashed lost its lease (crashed or hung)"
    # The crashed worker's late result is fenced out: the first committed result stays.
    late = Outcome(retried, 1, OutcomeKind.SUCCEEDED, result={"doubled": -1.0})
    assert await embedded_store.complete_jobs([late], POLICY) == []
    stored = await embedded_store.get_job(TENANT, retried)
    assert stored is not None
    assert stored.result == {"doubled": 6.0}


async def test_a_waiting_job_past_its_deadline_expires_without_running(
    embedded_store: SqlJobStore,
    workers: Workers,
    clock: FakeClock,
    model: tuple[ModelServer, HeldModel],
) -> None:
    job_id = await submit(embedded_store, deadline=clock.now() + 60, value=5.0)
    clock.advance(61)
    await workers.start()
    expired = await reaches(embedded_store, job_id, JobStatus.EXPIRED, attempts=0)
    assert (expired.error, expired.finished_at) == (DEADLINE_PASSED, clock.now())
    assert model[1].seen == []


async def test_a_deadline_passing_while_the_job_waits_in_the_batcher_expires_it(
    embedded_store: SqlJobStore,
    workers: Workers,
    clock: FakeClock,
    model: tuple[ModelServer, HeldModel],
) -> None:
    server, held = model
    await workers.start(lease_seconds=120)  # moving the clock 61 s keeps the leases
    slow = await submit(embedded_store, value=1.0, hold=True)
    assert await asyncio.to_thread(held.holding.wait, 10)
    late = await submit(embedded_store, deadline=clock.now() + 60, value=2.0)
    batcher = server.get(HeldModel.name).batcher
    assert batcher is not None
    await poll_until_async(
        lambda: batcher.pending, "the job waiting in the batcher", timeout=10, interval=0.01
    )
    clock.advance(61)
    held.gate.set()
    expired = await reaches(embedded_store, late, JobStatus.EXPIRED, attempts=1)
    assert expired.error == DEADLINE_PASSED
    await reaches(embedded_store, slow, JobStatus.SUCCEEDED, attempts=1)
    assert held.seen == [1.0]  # the late job never reached the model


async def test_a_stopping_worker_gives_unfinished_jobs_back_uncounted(
    embedded_store: SqlJobStore,
    workers: Workers,
    model: tuple[ModelServer, HeldModel],
) -> None:
    worker = await workers.start(grace_seconds=0.05)
    held_job = await submit(embedded_store, value=1.0, hold=True)
    assert await asyncio.to_thread(model[1].holding.wait, 10)
    await worker.stop()
    released = await embedded_store.get_job(TENANT, held_job)
    assert released is not None
    assert (released.status, released.attempts, released.worker_id) == (JobStatus.QUEUED, 0, None)
    assert await embedded_store.live_workers(since=0) == []  # its heartbeat row is gone
