"""Stream routes: records of an input topic become jobs; finished jobs become output records.

In (`StreamIngest`): each record is parsed and validated against the model's schema and
submitted as a job whose idempotency key names the record (its own id field, or its
topic, partition and offset), so reading a record twice never makes two jobs. A record
that is not JSON, lacks its id field or fails the schema goes to the route's
dead-letter topic with the reason. Records are committed on the source only once their
jobs are committed to the database and their dead letters acknowledged by the broker.

Out (`StreamResults`): the outbox relay hands it every batch of committed events; the
events that finish a stream job become a record on the route's output topic (success)
or dead-letter topic (dead, expired, cancelled), keyed by job id, before the batch is
marked published. Like every relay output this is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Protocol

from inferline.application.jobs import SubmitJob
from inferline.core.settings import StreamRoute
from inferline.domain.errors import InvalidInput
from inferline.domain.jobs import DEFAULT_TENANT, Job, JobEvent, JobStatus
from inferline.ports.metrics import UseCaseMetrics
from inferline.ports.streams import OutRecord, StreamRecord, StreamSink, StreamSource

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 255
FAILED_FINALLY = {
    JobStatus.DEAD: "job_dead",
    JobStatus.EXPIRED: "job_expired",
    JobStatus.CANCELLED: "job_cancelled",
}


class JobIntake(Protocol):
    """The slice of the data plane a stream consumer calls."""

    def model_name(self, name: str) -> str:
        """The model's own name for a name or alias (NotFound when there is none)."""
        ...

    async def submit_job(self, command: SubmitJob) -> tuple[Job, bool]:
        """Validate and store one job; idempotent by key."""
        ...


class BadRecord(Exception):
    """A record that cannot become a job; `reason` is a short code for metrics."""

    def __init__(self, reason: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class StreamIngest:
    """Reads one route's input topic and submits a job per record."""

    def __init__(
        self,
        route: StreamRoute,
        source: StreamSource,
        sink: StreamSink,
        jobs: JobIntake,
        metrics: UseCaseMetrics,
        *,
        batch_size: int = 200,
        block_seconds: float = 1.0,
        lag_every_seconds: float = 2.0,
        tenant: str = DEFAULT_TENANT,
    ) -> None:
        self.route = route
        self.model = jobs.model_name(route.model)  # an unknown model fails at start
        self.source = source
        self.sink = sink
        self.jobs = jobs
        self.metrics = metrics
        self.batch_size = batch_size
        self.block_seconds = block_seconds
        self.lag_every_seconds = lag_every_seconds
        self.tenant = tenant
        self._pending: list[StreamRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._lag_measured = 0.0

    async def start(self) -> None:
        await self.source.start()
        self._task = asyncio.create_task(self._run(), name=f"stream-{self.route.topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.source.close()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self.ingest_once()
                delay = 0.1
            except Exception as exc:
                log.warning("stream route %s: %s; retrying in %.1fs", self.route.topic, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            with contextlib.suppress(Exception):
                await self._measure_lag()

    async def ingest_once(self) -> int:
        """Read a batch (or retry the one that failed), store its jobs, dead-letter the bad
        records, commit; returns how many records were processed."""
        if not self._pending:
            self._pending = await self.source.read(self.batch_size, self.block_seconds)
            if self._pending:
                self.metrics.stream_records_in.labels(self.route.topic).inc(len(self._pending))
        records = self._pending
        if not records:
            return 0
        commands: list[tuple[StreamRecord, SubmitJob]] = []
        dead: list[tuple[StreamRecord, BadRecord]] = []
        for record in records:
            try:
                commands.append((record, self._command(record)))
            except BadRecord as bad:
                dead.append((record, bad))
        outcomes = await asyncio.gather(
            *(self.jobs.submit_job(command) for _, command in commands), return_exceptions=True
        )
        for (record, _command), outcome in zip(commands, outcomes, strict=True):
            if isinstance(outcome, InvalidInput):
                dead.append((record, BadRecord("invalid_input", outcome.message, outcome.details)))
            elif isinstance(outcome, BaseException):
                raise outcome  # the store or admission control: retry the whole batch
        if dead:
            await self.sink.send([self._dead_letter(record, why) for record, why in dead])
            for _record, why in dead:
                self.metrics.stream_dead_lettered.labels(self.route.topic, why.reason).inc()
        await self.source.commit(records)
        self._pending = []
        return len(records)

    def _command(self, record: StreamRecord) -> SubmitJob:
        try:
            value = json.loads(record.value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRecord("not_json", f"the record is not JSON: {exc}") from None
        own_id: Any = None
        if self.route.id_field is not None:
            if not isinstance(value, dict) or self.route.id_field not in value:
                raise BadRecord(
                    "missing_id", f"the record has no {self.route.id_field!r} field (its id)"
                )
            own_id = value.pop(self.route.id_field)
            key = f"stream:{record.topic}:{own_id}"
        else:
            key = f"stream:{record.topic}/{record.partition}/{record.position}"
        if len(key) > MAX_KEY_LENGTH:
            raise BadRecord(
                "missing_id", f"the record's id makes a key over {MAX_KEY_LENGTH} chars"
            )
        source = {
            "topic": record.topic,
            "partition": record.partition,
            "position": record.position,
            "id": own_id,
        }
        return SubmitJob(
            tenant=self.tenant,
            model=self.model,
            input=value,
            idempotency_key=key,
            metadata={
                "stream": {
                    **source,
                    "output_topic": self.route.results_topic,
                    "dead_letter_topic": self.route.dead_letters_topic,
                }
            },
        )

    def _dead_letter(self, record: StreamRecord, bad: BadRecord) -> OutRecord:
        body = {
            "reason": bad.reason,
            "error": bad.message,
            "details": bad.details,
            "source": {
                "topic": record.topic,
                "partition": record.partition,
                "position": record.position,
                "key": record.key,
            },
            "value": record.value.decode(errors="replace"),
            "at": time.time(),
        }
        return OutRecord(self.route.dead_letters_topic, record.key, _dumps(body))

    async def _measure_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_measured < self.lag_every_seconds:
            return
        self._lag_measured = now
        for partition, lag in (await self.source.lag()).items():
            self.metrics.stream_lag.labels(self.route.topic, str(partition)).set(lag)


class StreamResults:
    """Produces each finished stream job to its route's output or dead-letter topic."""

    def __init__(self, sink: StreamSink, metrics: UseCaseMetrics) -> None:
        self.sink = sink
        self.metrics = metrics

    async def dispatch(self, events: list[JobEvent]) -> None:
        """Called by the relay with each batch of committed events, before marking them."""
        out: list[OutRecord] = []
        counted: list[tuple[str, str | None]] = []  # (input topic, dead-letter reason or None)
        for event in events:
            stream = (event.job.get("metadata") or {}).get("stream")
            if not isinstance(stream, dict):
                continue
            body = {
                "job_id": event.job_id,
                "model": event.model,
                "status": event.status.value,
                "result": event.job.get("result"),
                "error": event.job.get("error"),
                "attempts": event.job.get("attempts"),
                "finished_at": event.job.get("finished_at"),
                "source": {k: stream.get(k) for k in ("topic", "partition", "position", "id")},
            }
            if event.status is JobStatus.SUCCEEDED:
                out.append(OutRecord(stream["output_topic"], event.job_id, _dumps(body)))
                counted.append((stream["topic"], None))
            elif event.status in FAILED_FINALLY:
                failure = FAILED_FINALLY[event.status]
                letter = {"reason": failure, **body}
                out.append(OutRecord(stream["dead_letter_topic"], event.job_id, _dumps(letter)))
                counted.append((stream["topic"], failure))
        if not out:
            return
        await self.sink.send(out)
        for topic, reason in counted:
            if reason is None:
                self.metrics.stream_records_out.labels(topic).inc()
            else:
                self.metrics.stream_dead_lettered.labels(topic, reason).inc()
