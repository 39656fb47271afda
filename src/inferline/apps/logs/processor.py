"""The consumer of `logs.raw`: reads records in batches, mines their templates, groups
their errors into incidents, stores it all, then commits the batch on the stream.

A batch closes at `batch_size` records or `batch_timeout` seconds after its first. Parsing
and mining are CPU work: a `BatchMiner` does them off the event loop (in a child process
by default, see `mining`), so the process's event loop (the API in `inferline serve`)
keeps serving meanwhile. The batch's templates, incidents, miner states and stream
positions are stored in one transaction, and only then committed on the stream (at least
once). A process that dies in between reads the batch again; the store remembers the
positions of the last batch stored per partition, with a digest of each record, and a
record read again (same position, same digest) is skipped, so nothing is counted twice.
A failed store is retried with backoff (the same batch: its records stay read, not
committed).

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

from inferline.apps.logs.incident_metrics import LogsProcessingMetrics
from inferline.apps.logs.incidents import IncidentGrouper, IncidentListener
from inferline.apps.logs.mining import BatchMiner, Mining
from inferline.core.tasks import cancel_and_wait
from inferline.ports.log_archive import LogArchive
from inferline.ports.logs import LogsBatch, LogsStore, PartitionKey
from inferline.ports.streams import StreamRecord, StreamSource

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


def digest(value: bytes) -> str:
    """A record's fingerprint: tells a record read again from another at the same position."""
    return hashlib.blake2b(value, digest_size=8).hexdigest()


@dataclass(slots=True)
class _Batch:
    """Records read together, with each one's digest by position, and what mining them
    found (None until mined, and again when the miner lost its state)."""

    records: list[StreamRecord]
    positions: dict[PartitionKey, dict[str, str]]
    fresh: list[StreamRecord] = field(default_factory=list)
    """The records not stored before (a batch replayed after a crash has none)."""
    mining: Mining | None = None


class LogsProcessor:
    """One consumer of the log stream (one per deployment: the miners' state is a
    process's, see `processing_wiring`)."""

    def __init__(
        self,
        source: StreamSource,
        store: LogsStore,
        miner: BatchMiner,
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
        self.miner = miner
        self.grouper = grouper
        self.listener = listener
        self.metrics = metrics
        self.topic = topic
        self.consumer = consumer
        self.archive = archive
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self.lag_every_seconds = lag_every_seconds
        self._batches: list[_Batch] = []
        """Read and not stored yet, oldest first: the one being stored, the one read ahead."""
        self._ahead: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lag_measured = 0.0

    async def start(self) -> None:
        await self.source.start()
        self._task = asyncio.create_task(self._run(), name=f"logs-processor-{self.topic}")

    async def stop(self) -> None:
        """Stop between batches' steps: what is stored but not committed is read again."""
        await cancel_and_wait(self._task)
        self._task = None
        if self._ahead is not None:
            self._ahead.cancel()
        await self._join_ahead()
        await self.source.close()
        await self.miner.close()

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
        """Store one batch (or retry the one that failed), mining it first unless it was
        mined while the batch before it was stored; its size. While it is stored, the next
        batch is read and mined (`_read_ahead`), so the miner and the stores work side
        by side."""
        await self._join_ahead()
        if not self._batches:
            await self._read()
        if not self._batches:
            return 0
        batch = self._batches[0]
        await self._mine(batch)
        self._ahead = asyncio.create_task(self._read_ahead(), name="logs-processor-ahead")
        await self._store(batch)
        self._batches.pop(0)
        return len(batch.records)

    async def _read(self) -> _Batch | None:
        """The next batch, kept (before anything can fail) until it is stored."""
        records = await self.next_batch()
        if not records:
            return None
        positions: dict[PartitionKey, dict[str, str]] = defaultdict(dict)
        for record in records:
            positions[(record.topic, record.partition)][record.position] = digest(record.value)
        batch = _Batch(records, dict(positions))
        self._batches.append(batch)
        return batch

    async def _read_ahead(self) -> None:
        """Read the batch after the one being stored (unless held already) and mine it,
        unless the miner must be restored first: that waits until nothing is being
        stored, so the restored state includes every batch mined before."""
        batch = self._batches[1] if len(self._batches) > 1 else await self._read()
        if batch is not None and self.miner.restored:
            await self._mine(batch)

    async def _join_ahead(self) -> None:
        """Wait for the read ahead; a failure there leaves its batch to be mined again.
        (`asyncio.wait`, not `await`: a cancellation of this task must neither reach the
        read ahead nor be taken for the read ahead's own.)"""
        ahead = self._ahead
        if ahead is None:
            return
        await asyncio.wait([ahead])
        self._ahead = None
        if not ahead.cancelled() and (exc := ahead.exception()) is not None:
            log.warning("logs processor: reading ahead failed: %s", exc)

    async def _mine(self, batch: _Batch) -> None:
        """Mine `batch` unless it is; a miner that lost its state (a mining process that
        died) is restored first, and every batch it mined and not stored is mined again."""
        if not self.miner.restored:
            for held in self._batches:
                held.mining = None
            templates = await self.miner.restore(await self.store.miner_states())
            self.metrics.templates.set(templates)
        if batch.mining is not None:
            return
        done = await self.store.processed_positions(self.consumer, list(batch.positions))
        batch.fresh = [
            r
            for r in batch.records
            if done.get((r.topic, r.partition), {}).get(r.position)
            != batch.positions[(r.topic, r.partition)][r.position]
        ]
        batch.mining = await self.miner.mine(batch.fresh)

    async def _store(self, batch: _Batch) -> None:
        """Group the batch's errors into incidents, archive and store it all, commit it on
        the stream, then tell the listeners."""
        mining = batch.mining
        assert mining is not None
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
        stored = LogsBatch(
            positions=batch.positions,
            templates=mining.sightings,
            opened=grouped.opened,
            grown=grouped.grown,
            miner_states=mining.states,
        )
        try:
            await self.store.save_batch(self.consumer, stored)
        except BaseException:
            self.grouper.forget()
            raise
        self.grouper.remember([*grouped.opened, *grouped.grown])
        await self.source.commit(batch.records)
        self._count(batch.records, batch.fresh, mining)
        for incident in grouped.opened:
            self.metrics.incidents_opened.labels(incident.level).inc()
            await self.listener.opened(incident)
        for incident in grouped.grown:
            await self.listener.grew(incident)

    def _count(
        self, records: list[StreamRecord], fresh: list[StreamRecord], mining: Mining
    ) -> None:
        metrics = self.metrics
        metrics.lines_processed.labels("mined").inc(len(fresh) - mining.invalid)
        if mining.invalid:
            metrics.lines_processed.labels("invalid").inc(mining.invalid)
        if len(records) > len(fresh):
            metrics.lines_processed.labels("replayed").inc(len(records) - len(fresh))
        metrics.templates.set(mining.templates)
        if mining.newest is not None:
            metrics.delay.set(max(0.0, time.time() - mining.newest))

    async def _measure_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_measured < self.lag_every_seconds:
            return
        self._lag_measured = now
        self.metrics.stream_lag.set(sum((await self.source.lag()).values()))
