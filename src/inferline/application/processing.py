"""Processing a claimed job: the use case a worker calls for each job."""

from __future__ import annotations

import logging
import time

from inferline.domain.errors import InferlineError
from inferline.domain.jobs import Job, Outcome, OutcomeKind
from inferline.runtime.batcher import Lane
from inferline.runtime.serving import ModelServer, validate_input

log = logging.getLogger(__name__)


class JobProcessor:
    """Runs one attempt of a job through its model's batcher and says how it ended."""

    def __init__(self, models: ModelServer) -> None:
        self.models = models

    async def run(self, job: Job) -> Outcome:
        if job.deadline is not None and job.deadline <= time.time():
            return Outcome(
                job.id,
                job.attempts,
                OutcomeKind.EXPIRED,
                error="deadline passed before the job ran",
            )
        try:
            served = self.models.get(job.model)
            item = validate_input(served.model_class, job.input, field="input")
            result = await served.infer(item, Lane.JOB)
        except InferlineError as exc:
            return Outcome(job.id, job.attempts, OutcomeKind.FAILED, error=exc.message)
        except Exception as exc:
            log.exception("job failed unexpectedly", extra={"job_id": job.id, "model": job.model})
            return Outcome(
                job.id, job.attempts, OutcomeKind.FAILED, error=f"{type(exc).__name__}: {exc}"
            )
        return Outcome(job.id, job.attempts, OutcomeKind.SUCCEEDED, result=result)
