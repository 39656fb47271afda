"""Processing a claimed job: the use case a worker calls for each job."""

from __future__ import annotations

import logging

from inferline.application.inputs import validate_input
from inferline.domain.errors import DeadlineExceeded, InferlineError
from inferline.domain.jobs import DEADLINE_PASSED, Job, Outcome, OutcomeKind
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.serving import Lane, ModelServing

log = logging.getLogger(__name__)


class JobProcessor:
    """Runs one attempt of a job through its model's batcher and says how it ended."""

    def __init__(self, models: ModelServing, clock: Clock = SYSTEM_CLOCK) -> None:
        self.models = models
        self.clock = clock

    async def run(self, job: Job) -> Outcome:
        """Run the job unless its deadline passes first (before or while it waits for a
        batch): then it is `expired` and never reaches the model."""
        try:
            if job.overdue(self.clock.now()):
                raise DeadlineExceeded(DEADLINE_PASSED)
            served = self.models.get(job.model)
            item = validate_input(served.model_class, job.input, field="input")
            result = await served.infer(item, Lane.JOB, deadline=job.deadline)
        except DeadlineExceeded:
            return Outcome(job.id, job.attempts, OutcomeKind.EXPIRED, error=DEADLINE_PASSED)
        except InferlineError as exc:
            return Outcome(job.id, job.attempts, OutcomeKind.FAILED, error=exc.message)
        except Exception as exc:
            log.exception("job failed unexpectedly", extra={"job_id": job.id, "model": job.model})
            return Outcome(
                job.id, job.attempts, OutcomeKind.FAILED, error=f"{type(exc).__name__}: {exc}"
            )
        return Outcome(job.id, job.attempts, OutcomeKind.SUCCEEDED, result=result)
