"""The consumer of `logs.raw`: reads records in batches, mines their templates, groups
their errors into incidents, stores it all, then commits the batch on the stream.

A batch closes at `batch_size` records or `batch_timeout` seconds after its first. Parsing
and mining are CPU work: they run in a thread (`asyncio.to_thread`), so the process's
event loop (the API in `inferline serve`) keeps serving meanwhile. The batch's templates,
incidents, miner states and stream positions are stored in one transaction, and only then
committed on the stream (at least once). A process that dies in between reads the batch
again; the store remembers the positions of the last batch stored per partition, with a
digest of each record, and a record read again (same position, same digest) is skipped,
so nothing is counted twice. A failed store is
retried with backoff (the same batch: its records stay read, not committed).

Listeners hear of incidents after the stream commit; they are awaited, so a listener
that is slow (an LLM) must hand the incident to its own queue and return.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import ValidationError

from inferline.apps.logs.incident_metrics import LogsProcessingMetrics
from inferline.apps.logs.incidents import ErrorLine, IncidentGrouper, IncidentListener
from inferline.apps.logs.records import LogRecord
from inferline.apps.logs.templates import TemplateMiners
from inferline.core.tasks import cancel_and_wait
from inferline.ports.log_archive import LogArchive
from inferline.ports.logs import LogsBatch, LogsStore, PartitionKey, TemplateSighting
from inferline.ports.streams import StreamRecord, StreamSource

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


@dataclass(slots=True)
class _Sighting:
    count: int
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class Mining:
    """What mining one batch found (built in the worker thread)."""

    sightings: list[TemplateSighting] = field(default_factory=list)
    errors: list[ErrorLine] = field(default_factory=list)
    states: dict[str, bytes] = field(default_factory=dict)
    lines: dict[str, list[tuple[LogRecord, str | None]]] = field(default_factory=dict)
    """Per tenant, every valid line with its template id, in the stream's order (for the
    archive)."""
    invalid: int = 0
    newest: float | None = None


def digest(value: bytes) -> str:
    """A record's fingerprint: tells a record read again from another at the same position."""
    return hashlib.blake2b(value, digest_size=8).hexdigest()


def mine_batch(miners: TemplateMiners, records: list[StreamRecord]) -> Mining:
    """Parse and mine `records` (CPU work: the processor runs it in a thread)."""
    mining = Mining()
    seen: dict[tuple[str, int, str], _Sighting] = {}
    errors: list[tuple[LogRecord, float, int, tuple[tuple[str, str], ...], str]] = []
    for record in records:
        try:
            line = LogRecord.model_validate_json(record.value)
        except ValidationError as exc:
            mining.invalid += 1
            log.warning(
                "logs processor: %s/%s is not a log record: %s",
                record.topic,
                record.position,
                exc.error_count(),
            )
            continue
        is_error = line.level.is_error
        mined = miners.miner(line.tenant).mine(line.message, with_parameters=is_error)
        mining.lines.setdefault(line.tenant, []).append((line, str(mined.template_id)))
        at = line.timestamp.timestamp()
        key = (line.tenant, mined.template_id, line.service)
        found = seen.get(key)
        if found is None:
            seen[key] = _Sighting(1, at, at)
        else:
            found.count += 1
            found.first_seen = min(found.first_seen, at)
            found.last_seen = max(found.last_seen, at)
        if is_error:
            origin = f"{record.topic}/{record.partition}/{record.position}"
            errors.append((line, at, mined.template_id, mined.parameters or (), origin))
        mining.newest = at if mining.newest is None else max(mining.newest, at)
    for (tenant, template_id, service), sighting in seen.items():
        text = miners.miner(tenant).template(template_id) or ""
        mining.sightings.append(
            TemplateSighting(
                tenant,
                template_id,
                service,
                text,
                sighting.count,
                sighting.first_seen,
                sighting.last_seen,
            )
        )
    for line, at, template_id, parameters, origin in errors:
        mining.errors.append(
            ErrorLine(
                tenant=line.tenant,
                service=line.service,
                template_id=template_id,
                template=miners.miner(line.tenant).template(template_id) or "",
                level=line.level,
                at=at,
                message=line.message,
                trace_id=line.trace_id,
                parameters=parameters,
                origin=origin,
            )
        )
    mining.states = miners.snapshots()
    return mining


class LogsProcessor:
    """One consumer of the log stream (one per deployment: the miners' state is a
    process's, see `processing_wiring`)."""

    def __init__(
        self,
        source: StreamSource,
        store: LogsStore,
        miners: TemplateMiners,
        grouper: IncidentGrouper,
        listener: IncidentListener,
        metrics: LogsProcessingMetrics,
        topic: str,
        *,
        consumer: str = "logs-incidents",
        archive: LogArchive | None = None,
        batch_size: int = 1000,
        batch_timeout: float = 0.5,
        lag_every_seconds: float = 2.0,
    ) -> None:
        self.source = source
        self.store = store
        self.miners = miners
        self.grouper = grouper
        self.listener = listener
        self.metrics = metrics
        self.topic = topic
        self.consumer = consumer
        self.archive = archive
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self.lag_every_seconds = lag_every_seconds
        self._pending: list[StreamRecord] = []
        self._restored = False
        self._task: asyncio.Task[None] | None = None
        self._lag_measured = 0.0

    async def start(self) -> None:
        await self.source.start()
        self._task = asyncio.create_task(self._run(), name=f"logs-processor-{self.topic}")

    async def stop(self) -> None:
        """Stop between batches' steps: what is stored but not committed is read again."""
        await cancel_and_wait(self._task)
        self._task = None
        await self.source.close()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self.process_once()
                delay = 0.1
            except Exception as exc:
                log.warning("logs processor: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            with contextlib.suppress(Exception):
                await self._measure_lag()

    async def restore(self) -> None:
        """Load the miners' stored state (once, before the first batch)."""
        if not self._restored:
            self.miners.restore(await self.store.miner_states())
            self._restored = True
            self.metrics.templates.set(self.miners.template_count())

    async def next_batch(self) -> list[StreamRecord]:
        """Up to `batch_size` records, waiting at most `batch_timeout` after the first."""
        records = await self.source.read(self.batch_size, self.batch_timeout)
        deadline = time.monotonic() + self.batch_timeout
        while records and len(records) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = await self.source.read(self.batch_size - len(records), left)
            if not more:
                break
            records.extend(more)
        return records

    async def process_once(self) -> int:
        """Mine, group and store one batch (or retry the one that failed); its size."""
        await self.restore()
        if not self._pending:
            self._pending = await self.next_batch()
        records = self._pending
        if not records:
            return 0
        positions: dict[PartitionKey, dict[str, str]] = defaultdict(dict)
        for record in records:
            positions[(record.topic, record.partition)][record.position] = digest(record.value)
        done = await self.store.processed_positions(self.consumer, list(positions))
        fresh = [
            r
            for r in records
            if done.get((r.topic, r.partition), {}).get(r.position)
            != positions[(r.topic, r.partition)][r.position]
        ]
        mining = await asyncio.to_thread(mine_batch, self.miners, fresh)
        # The newest incident of every key in the batch, as stored now: an operator may
        # have resolved one since (in any process), and a resolved incident takes no more.
        keys = sorted({line.key for line in mining.errors})
        if keys:
            self.grouper.remember(list((await self.store.latest_incidents(keys)).values()))
        grouped = self.grouper.group(mining.errors)
        if self.archive is not None:
            # Before the batch is stored: a crash in between archives these lines again
            # when the batch is replayed (at least once), never loses them.
            for tenant, lines in mining.lines.items():
                await self.archive.append(tenant, lines)
        batch = LogsBatch(
            positions=dict(positions),
            templates=mining.sightings,
            opened=grouped.opened,
            grown=grouped.grown,
            miner_states=mining.states,
        )
        try:
            await self.store.save_batch(self.consumer, batch)
        except BaseException:
            self.grouper.forget()
            raise
        self.miners.stored(list(mining.states))
        self.grouper.remember([*grouped.opened, *grouped.grown])
        await self.source.commit(records)
        self._pending = []
        self._count(records, fresh, mining)
        for incident in grouped.opened:
            self.metrics.incidents_opened.labels(incident.level).inc()
            await self.listener.opened(incident)
        for incident in grouped.grown:
            await self.listener.grew(incident)
        return len(records)

    def _count(
        self, records: list[StreamRecord], fresh: list[StreamRecord], mining: Mining
    ) -> None:
        metrics = self.metrics
        metrics.lines_processed.labels("mined").inc(len(fresh) - mining.invalid)
        if mining.invalid:
            metrics.lines_processed.labels("invalid").inc(mining.invalid)
        if len(records) > len(fresh):
            metrics.lines_processed.labels("replayed").inc(len(records) - len(fresh))
        metrics.templates.set(self.miners.template_count())
        if mining.newest is not None:
            metrics.delay.set(max(0.0, time.time() - mining.newest))

    async def _measure_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_measured < self.lag_every_seconds:
            return
        self._lag_measured = now
        self.metrics.stream_lag.set(sum((await self.source.lag()).values()))
