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
from dataclasses import dataclass

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


def _discard(mining: asyncio.Future[Mining] | None) -> None:
    """Cancel a mining no longer wanted, or take its failure (so it is not reported as
    never retrieved)."""
    if mining is None:
        return
    if mining.done() and not mining.cancelled():
        mining.exception()
    mining.cancel()


@dataclass(slots=True)
class _Batch:
    """Records read together, with each one's digest by position; the records not stored
    before (None until asked of the store: a batch replayed after a crash has none); and
    its mining, once handed to the miner (None again when the miner lost its state)."""

    records: list[StreamRecord]
    positions: dict[PartitionKey, dict[str, str]]
    fresh: list[StreamRecord] | None = None
    mining: asyncio.Future[Mining] | None = None


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
        batch_size: int = 4000,
        batch_timeout: float = 0.5,
        lag_every_seconds: float = 2.0,
        read_ahead: int = 2,
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
        self.read_ahead = read_ahead
        self._batches: list[_Batch] = []
        """Read and not stored yet, oldest first: the one being stored, then up to
        `read_ahead` more (read, and mined while the one before them is stored)."""
        self._reads_begun = 0
        self._reads_done = 0
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lag_measured = 0.0

    async def start(self) -> None:
        await self.source.start()
        self._task = asyncio.create_task(self._run(), name=f"logs-processor-{self.topic}")

    async def stop(self) -> None:
        """Stop between batches' steps: what is stored but not committed is read again."""
        await cancel_and_wait(self._task)
        await cancel_and_wait(self._reader)
        self._task = self._reader = None
        for batch in self._batches:
            _discard(batch.mining)
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
        """Store the oldest batch read (or retry the one that failed); its size, 0 when
        a read begun after this call found nothing (so records sent before the call are
        never missed by a read that was already under way). Batches are read ahead by a
        task of their own and handed to the miner in order, so the stream, the miner and
        the stores work side by side."""
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_ahead(), name="logs-processor-read")
        async with self._changed:
            begun = self._reads_begun
            await self._changed.wait_for(lambda: bool(self._batches) or self._reads_done > begun)
        if not self._batches:
            return 0
        await self._hand_to_miner()
        batch = self._batches[0]
        assert batch.mining is not None
        try:
            mining = await batch.mining
        except Exception:
            batch.mining = None  # mined again (after a restore, if the miner lost its state)
            raise
        await self._store(batch, mining)
        self._batches.pop(0)
        async with self._changed:
            self._changed.notify_all()  # room for the reader
        return len(batch.records)

    async def _read_ahead(self) -> None:
        """Keep up to `read_ahead` batches read past the one being stored."""
        delay = 0.1
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self._batches) <= self.read_ahead)
                self._reads_begun += 1
            try:
                batch = await self._read()
                if batch is not None:
                    batch.fresh = await self._fresh(batch)
                delay = 0.1
            except Exception as exc:
                log.warning(
                    "logs processor: reading %s: %s; retrying in %.1fs", self.topic, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            async with self._changed:
                self._reads_done += 1
                self._changed.notify_all()

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

    async def _fresh(self, batch: _Batch) -> list[StreamRecord]:
        """The batch's records that the store has not stored at their position before."""
        done = await self.store.processed_positions(self.consumer, list(batch.positions))
        return [
            r
            for r in batch.records
            if done.get((r.topic, r.partition), {}).get(r.position)
            != batch.positions[(r.topic, r.partition)][r.position]
        ]

    async def _hand_to_miner(self) -> None:
        """Hand every batch held and not being mined to the miner, oldest first. A miner
        that lost its state (a mining process that died) is restored from the store
        first, and every batch it had not finished is mined again: nothing is stored
        while this runs, so the restored state includes every batch mined before."""
        if not self.miner.restored:
            for held in self._batches:
                _discard(held.mining)
                held.mining = None
            templates = await self.miner.restore(await self.store.miner_states())
            self.metrics.templates.set(templates)
        for held in list(self._batches):
            if held.mining is None:
                if held.fresh is None:
                    held.fresh = await self._fresh(held)
                held.mining = asyncio.ensure_future(self.miner.mine(held.fresh))

    async def _store(self, batch: _Batch, mining: Mining) -> None:
        """Group the batch's errors into incidents, archive and store it all, commit it on
        the stream, then tell the listeners."""
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
        assert batch.fresh is not None  # set before the batch was mined
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
