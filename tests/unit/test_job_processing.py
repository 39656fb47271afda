"""One attempt of a claimed job: its deadline is read from the injected clock."""

from __future__ import annotations

import time

from inferline.application.processing import JobProcessor
from inferline.core.metrics import Metrics
from inferline.core.settings import Settings
from inferline.domain.jobs import DEADLINE_PASSED, Job, JobStatus, OutcomeKind
from inferline.models.moving_average import MovingAverage
from inferline.runtime.registry import ModelRegistry
from inferline.runtime.serving import ModelServer
from inferline.testing.clock import FakeClock


def running_job(deadline: float) -> Job:
    return Job(
        id="job-1",
        tenant="t1",
        model=MovingAverage.name,
        model_version=MovingAverage.version,
        status=JobStatus.RUNNING,
        input={"series": [1.0, 2.0, 3.0, 4.0], "window": 2},
        result=None,
        error=None,
        attempts=1,
        max_attempts=3,
        priority=0,
        idempotency_key=None,
        metadata={},
        deadline=deadline,
        created_at=deadline - 120,
        updated_at=deadline - 60,
        worker_id="w1",
    )


async def test_a_job_runs_until_its_deadline_by_the_processors_clock() -> None:
    clock = FakeClock(time.time())  # the batcher checks deadlines on the real clock
    models = ModelServer(ModelRegistry([MovingAverage]), Settings(), Metrics())
    await models.load_all()
    try:
        processor = JobProcessor(models, clock)
        job = running_job(deadline=clock.now() + 60)
        done = await processor.run(job)
        assert done.kind is OutcomeKind.SUCCEEDED and done.result is not None
        clock.advance(60)
        late = await processor.run(job)
        assert (late.kind, late.error, late.attempt) == (OutcomeKind.EXPIRED, DEADLINE_PASSED, 1)
    finally:
        await models.stop()
