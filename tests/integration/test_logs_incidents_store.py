"""The log analysis's tables on SQLite, PostgreSQL and MariaDB (migration 0009): batches
stored in one transaction (or none of it), template counts merged across batches,
incidents listed newest first with filters and cursors, per tenant, resolved and
analysed; and the consumer of `logs.raw` on the embedded stream, whose batch stored but
not committed (the process died) is read again without counting anything twice."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import IntegrityError

from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.incidents import SqlLogsStore
from inferline.adapters.sql.logs.stream import SqlLogStream
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.apps.logs.incident_metrics import LogsProcessingMetrics
from inferline.apps.logs.incidents import IncidentGrouper, Listeners
from inferline.apps.logs.mining import BatchMiner, MiningProcessLost, ProcessMiner, ThreadMiner
from inferline.apps.logs.processor import LogsProcessor
from inferline.apps.logs.records import Level, LogRecord
from inferline.apps.logs.templates import MinerConfig, TemplateMiners
from inferline.domain.errors import InvalidInput, NotFound
from inferline.ports.logs import Incident, IncidentFilter, LogsBatch, TemplateSighting
from inferline.ports.streams import OutRecord, StreamRecord

T0 = 1_764_000_000.0
TOPIC = "logs.raw"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlLogsStore]:
    logs = SqlLogsStore(store_url, create_engines, upgrade_to_head)
    await logs.start()
    yield logs
    await logs.close()


def incident(
    n: int, *, tenant: str = "acme", service: str = "api", level: str = "ERROR"
) -> Incident:
    return Incident(
        id=f"00000000-0000-4000-8000-{n:012d}",
        tenant=tenant,
        service=service,
        template_id=n,
        template=f"failure <NUM> of kind {n}",
        level=level,
        status="open",
        count=1,
        first_seen=T0 + n,
        last_seen=T0 + n,
        samples=[{"at": T0 + n, "level": level, "message": f"failure 1 of kind {n}"}],
        parameters=[{"mask": "NUM", "values": ["1"]}],
    )


def sighting(template_id: int, count: int, at: float, text: str = "t <NUM>") -> TemplateSighting:
    return TemplateSighting("acme", template_id, "api", text, count, at, at + 1)


async def test_template_counts_add_up_across_batches_and_texts_follow_the_miner(
    store: SqlLogsStore,
) -> None:
    await store.save_batch("c", LogsBatch(templates=[sighting(1, 3, T0), sighting(2, 1, T0)]))
    other = TemplateSighting("acme", 1, "billing", "t <*>", 5, T0 + 5, T0 + 6)
    await store.save_batch("c", LogsBatch(templates=[sighting(1, 4, T0 + 10, "t <*>"), other]))
    found = await store.templates("acme", None, 10)
    assert [(t.template_id, t.service, t.count, t.text) for t in found] == [
        (1, "api", 7, "t <*>"),
        (1, "billing", 5, "t <*>"),
        (2, "api", 1, "t <NUM>"),
    ]
    assert (found[0].first_seen, found[0].last_seen) == (T0, T0 + 11)
    assert [t.service for t in await store.templates("acme", "billing", 10)] == ["billing"]
    assert await store.templates("globex", None, 10) == []


async def test_positions_and_miner_states_are_stored_with_the_batch(store: SqlLogsStore) -> None:
    partitions = [(TOPIC, 0), (TOPIC, 1)]
    assert await store.processed_positions("c", partitions) == {}
    batch = LogsBatch(positions={(TOPIC, 0): {"1": "a1", "2": "a2"}}, miner_states={"acme": b"s1"})
    await store.save_batch("c", batch)
    later = {(TOPIC, 0): {"3": "b3"}, (TOPIC, 1): {"9": "b9"}}
    await store.save_batch("c", LogsBatch(positions=later, miner_states={"acme": b"s2"}))
    assert await store.processed_positions("c", partitions) == later
    assert await store.processed_positions("other", partitions) == {}
    assert await store.miner_states() == {"acme": b"s2"}


async def test_a_batch_that_fails_stores_none_of_it(store: SqlLogsStore) -> None:
    await store.save_batch("c", LogsBatch(opened=[incident(1)]))
    failing = LogsBatch(
        positions={(TOPIC, 0): {"5": "c5"}},
        templates=[sighting(1, 3, T0)],
        opened=[incident(1)],  # the same id again: the insert fails
    )
    with pytest.raises(IntegrityError):
        await store.save_batch("c", failing)
    assert await store.templates("acme", None, 10) == []
    assert await store.processed_positions("c", [(TOPIC, 0)]) == {}


async def test_incidents_grow_and_list_newest_first_with_filters_and_cursors(
    store: SqlLogsStore,
) -> None:
    opened = [incident(n, service="api" if n % 2 else "billing") for n in range(1, 8)]
    opened.append(incident(8, tenant="globex"))
    await store.save_batch("c", LogsBatch(opened=opened))
    grown = replace(opened[0], count=3, last_seen=T0 + 50, level="FATAL")
    await store.save_batch("c", LogsBatch(grown=[grown]))

    assert await store.incident("acme", grown.id) == grown
    with pytest.raises(NotFound):
        await store.incident("globex", grown.id)

    page, cursor = await store.incidents("acme", IncidentFilter(), 3, None)
    ids = [i.template_id for i in page]
    while cursor is not None:
        page, cursor = await store.incidents("acme", IncidentFilter(), 3, cursor)
        ids += [i.template_id for i in page]
    assert ids == [7, 6, 5, 4, 3, 2, 1]

    async def only(where: IncidentFilter) -> list[int]:
        return [i.template_id for i in (await store.incidents("acme", where, 50, None))[0]]

    assert await only(IncidentFilter(service="billing")) == [6, 4, 2]
    assert await only(IncidentFilter(level="FATAL")) == [1]
    assert await only(IncidentFilter(since=T0 + 6.5)) == [7, 1]  # 1 was active until T0 + 50
    assert await only(IncidentFilter(until=T0 + 2)) == [2, 1]
    assert await only(IncidentFilter(since=T0 + 40)) == [1]

    with pytest.raises(InvalidInput):
        await store.incidents("acme", IncidentFilter(), 3, "not-a-cursor")

    latest = await store.latest_incidents([("acme", "api", 1), ("acme", "api", 99)])
    assert latest == {("acme", "api", 1): grown}


async def test_resolve_and_analysis(store: SqlLogsStore) -> None:
    await store.save_batch("c", LogsBatch(opened=[incident(1)]))
    with pytest.raises(NotFound):
        await store.resolve(incident(1).id, "restarted", T0 + 99, tenant="globex")
    resolved = await store.resolve(incident(1).id, "restarted the pool", T0 + 99, tenant="acme")
    assert (resolved.status, resolved.resolution, resolved.resolved_at) == (
        "resolved",
        "restarted the pool",
        T0 + 99,
    )
    analysed = await store.set_analysis(incident(1).id, {"root_cause": "pool", "confidence": 0.8})
    assert analysed.analysis == {"root_cause": "pool", "confidence": 0.8}
    assert (await store.incident("acme", incident(1).id)) == analysed
    opened = (await store.incidents("acme", IncidentFilter(status="open"), 10, None))[0]
    assert opened == []
    with pytest.raises(NotFound):
        await store.set_analysis("00000000-0000-4000-8000-999999999999", {})


# -- the consumer on the embedded stream ---------------------------------------------


class DiesBeforeCommit(SqlLogStream):
    """The embedded stream of a process that dies after storing a batch, before
    committing it on the stream."""

    async def commit(self, records: list[StreamRecord]) -> None:
        raise RuntimeError("killed between the store's commit and the stream's")


def records(count: int, start: int = 0) -> list[OutRecord]:
    lines = []
    for i in range(start, start + count):
        error = i % 4 == 0
        message = f"db timeout after {i % 7}ms" if error else f"user {i} logged in"
        line = LogRecord(
            timestamp=datetime.fromtimestamp(T0 + i, UTC),
            service="api",
            level=Level.ERROR if error else Level.INFO,
            message=message,
        )
        lines.append(OutRecord(TOPIC, "api", line.model_dump_json().encode()))
    return lines


@pytest.fixture(params=["process", "thread"])
async def new_miner(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], BatchMiner]]:
    """Where the consumer mines: a child process (the default) or a thread; the miners
    made are closed at the end."""
    made: list[BatchMiner] = []

    def new() -> BatchMiner:
        in_process = request.param == "process"
        made.append(ProcessMiner(MinerConfig()) if in_process else ThreadMiner(TemplateMiners()))
        return made[-1]

    yield new
    for miner in made:
        await miner.close()


def processor(source: SqlLogStream, store: SqlLogsStore, miner: BatchMiner) -> LogsProcessor:
    return LogsProcessor(
        source,
        store,
        miner,
        IncidentGrouper(),
        Listeners(),
        LogsProcessingMetrics(CollectorRegistry()),
        TOPIC,
        batch_size=100,
        batch_timeout=0.05,
    )


async def test_a_batch_read_again_after_a_crash_is_not_counted_twice(
    store: SqlLogsStore, logs_database: LogsDatabase, new_miner: Callable[[], BatchMiner]
) -> None:
    consumers: list[LogsProcessor] = []
    try:
        await SqlLogStream(logs_database, TOPIC).send(records(40))
        dying = processor(DiesBeforeCommit(logs_database, TOPIC), store, new_miner())
        consumers.append(dying)
        with pytest.raises(RuntimeError, match="killed"):
            await dying.process_once()
        stored = await store.templates("acme", None, 10)
        assert stored == []  # the default tenant's, not acme's
        stored = await store.templates("default", None, 10)
        assert sorted((t.text, t.count) for t in stored) == [
            ("db timeout after <DURATION>", 10),
            ("user <NUM> logged in", 30),
        ]
        [before] = (await store.incidents("default", IncidentFilter(), 10, None))[0]

        restarted = processor(SqlLogStream(logs_database, TOPIC), store, new_miner())
        consumers.append(restarted)
        assert await restarted.process_once() == 40  # read again, skipped, committed
        assert await restarted.source.lag() == {0: 0}
        again = await store.templates("default", None, 10)
        assert [(t.template_id, t.count) for t in again] == [
            (t.template_id, t.count) for t in stored
        ]
        assert (await store.incidents("default", IncidentFilter(), 10, None))[0] == [before]

        # new records (at positions the emptied SQLite table numbers anew: 1, 2, ...)
        await SqlLogStream(logs_database, TOPIC).send(records(8, start=40))
        assert await restarted.process_once() == 8
        ids = {t.text: t.template_id for t in stored}
        after = {
            t.text: (t.template_id, t.count) for t in await store.templates("default", None, 10)
        }
        assert after == {
            "db timeout after <DURATION>": (ids["db timeout after <DURATION>"], 12),
            "user <NUM> logged in": (ids["user <NUM> logged in"], 36),
        }
        [grown] = (await store.incidents("default", IncidentFilter(), 10, None))[0]  # same ids
        assert (grown.id, grown.count) == (before.id, 12)
    finally:
        for consumer in consumers:
            await consumer.stop()


async def test_a_mining_process_that_dies_is_replaced_and_restored_from_the_store(
    store: SqlLogsStore, logs_database: LogsDatabase
) -> None:
    miner = ProcessMiner(MinerConfig())
    consumer = processor(SqlLogStream(logs_database, TOPIC), store, miner)
    try:
        await SqlLogStream(logs_database, TOPIC).send(records(40))
        assert await consumer.process_once() == 40
        ids = {t.text: t.template_id for t in await store.templates("default", None, 10)}
        first = miner.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)

        await SqlLogStream(logs_database, TOPIC).send(records(8, start=40))
        try:  # the loss is noticed reading ahead (that batch is mined again) or here
            processed = await consumer.process_once()
        except MiningProcessLost:
            processed = await consumer.process_once()
        assert processed == 8
        assert miner.pid not in (None, first)
        after = {
            t.text: (t.template_id, t.count) for t in await store.templates("default", None, 10)
        }
        assert after == {
            "db timeout after <DURATION>": (ids["db timeout after <DURATION>"], 12),
            "user <NUM> logged in": (ids["user <NUM> logged in"], 36),
        }
    finally:
        await consumer.stop()


class HeldReads(SqlLogStream):
    """The embedded stream, each of whose reads hands back what it found only when the
    test releases it: a read under way while records are sent."""

    def __init__(self, database: LogsDatabase, topic: str) -> None:
        super().__init__(database, topic)
        self.found: asyncio.Queue[int] = asyncio.Queue()
        self.release: asyncio.Queue[None] = asyncio.Queue()

    async def read(self, count: int, block_seconds: float) -> list[StreamRecord]:
        found = await super().read(count, block_seconds)
        self.found.put_nowait(len(found))
        await self.release.get()
        return found


async def test_records_sent_while_an_empty_read_is_under_way_are_not_missed(
    store: SqlLogsStore, logs_database: LogsDatabase
) -> None:
    """`process_once` answers 0 only for a read begun after it was called: the one under
    way when records are sent may have looked before they were there."""
    source = HeldReads(logs_database, TOPIC)
    consumer = processor(source, store, ThreadMiner(TemplateMiners()))
    try:
        await SqlLogStream(logs_database, TOPIC).send(records(40))
        first = asyncio.create_task(consumer.process_once())
        assert await source.found.get() == 40
        source.release.put_nowait(None)
        assert await source.found.get() == 0  # the rest of the batch's time
        source.release.put_nowait(None)
        assert await first == 40
        assert await source.found.get() == 0  # the reader's next read, under way

        await SqlLogStream(logs_database, TOPIC).send(records(8, start=40))
        second = asyncio.create_task(consumer.process_once())
        await asyncio.sleep(0)  # one turn of the loop: `second` now waits for a read
        source.release.put_nowait(None)  # the read that looked too early ends, empty
        assert await source.found.get() == 8  # the next one, begun after the call
        source.release.put_nowait(None)
        assert await source.found.get() == 0
        source.release.put_nowait(None)
        assert await second == 8
    finally:
        await consumer.stop()
