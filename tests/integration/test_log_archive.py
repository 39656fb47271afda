"""The log archive and the batch reports on SQLite, PostgreSQL and MariaDB (migration
0010), each in a database of the test's own: batches in received order, keyset chunks by
either time, counts, duplicates, tenants, retention, and the reports' replace-on-rerun."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.archive_schema import log_records
from inferline.adapters.sql.logs.store import SqlLogStore
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.apps.logs.batch import LogBatch
from inferline.apps.logs.batch_settings import LogBatchSettings
from inferline.ports.log_archive import ArchiveLine, GroupCount
from tests.support.logs import archive_lines, log_line

T = "acme"
BASE = datetime(2026, 12, 2, 6, tzinfo=UTC).timestamp()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlLogStore]:
    logs = SqlLogStore(store_url, create_engines, upgrade_to_head)
    await logs.start()
    yield logs
    await logs.close()


async def all_lines(store: SqlLogStore, tenant: str, **kwargs: object) -> list[int]:
    return [
        record.seq
        async for chunk in store.chunks(tenant, 0, BASE * 2, **kwargs)  # type: ignore[arg-type]
        for record in chunk
    ]


async def test_a_batch_is_stored_whole_and_read_back_in_chunks(store: SqlLogStore) -> None:
    batch = [
        (log_line(BASE + i, trace_id=f"t{i}" if i % 2 else None, pod=f"p{i % 3}"), f"tpl-{i % 4}")
        for i in range(250)
    ]
    assert await store.append(T, archive_lines(batch), received_at=BASE + 300) == 250
    chunks = [chunk async for chunk in store.chunks(T, BASE, BASE + 1000, size=100)]
    assert [len(c) for c in chunks] == [100, 100, 50]
    records = [r for c in chunks for r in c]
    assert [r.timestamp for r in records] == [BASE + i for i in range(250)]
    assert records[1].trace_id == "t1" and records[0].trace_id is None
    assert records[3].template_id == "tpl-3"
    assert len({r.record_hash for r in records}) == 250
    assert records[7].received_at == BASE + 300


async def test_received_order_is_the_order_of_batches_then_lines(store: SqlLogStore) -> None:
    # written late: the second batch holds older lines, yet was received after the first
    await store.append(
        T,
        archive_lines([(log_line(BASE + 50), None), (log_line(BASE + 40), None)]),
        received_at=BASE + 60,
    )
    await store.append(T, archive_lines([(log_line(BASE + 10), None)]), received_at=BASE + 61)
    by_time = [r.timestamp async for c in store.chunks(T, 0, BASE * 2, size=1) for r in c]
    by_receipt = [
        r.timestamp async for c in store.chunks(T, 0, BASE * 2, by="received_at", size=1) for r in c
    ]
    assert by_time == [BASE + 10, BASE + 40, BASE + 50]
    assert by_receipt == [BASE + 50, BASE + 40, BASE + 10]


async def test_counts_duplicates_and_tenants_of_a_range(store: SqlLogStore) -> None:
    same = log_line(BASE + 5, message="retrying")
    await store.append(
        T,
        archive_lines(
            [
                (log_line(BASE + 1), "a"),
                (log_line(BASE + 2), "a"),
                (log_line(BASE + 3, level="ERROR"), "b"),
                (same, "c"),
                (same, "c"),
                (same, "c"),
                (log_line(BASE + 7200), "a"),
            ]
        ),
        received_at=BASE + 10,
    )
    await store.append("zeta", archive_lines([(log_line(BASE + 1), None)]), received_at=BASE + 10)
    counts = await store.counts(T, BASE, BASE + 3600)
    assert sorted(counts, key=lambda c: (c.level, c.template_id or "")) == [
        GroupCount("checkout", "ERROR", "b", 1),
        GroupCount("checkout", "INFO", "a", 2),
        GroupCount("checkout", "INFO", "c", 3),
    ]
    stats = await store.duplicates(T, BASE, BASE + 3600, by="timestamp")
    assert (stats.records, stats.duplicates) == (6, 2)
    [(example, times)] = stats.examples
    assert (example.message, times) == ("retrying", 3)
    assert await store.tenants(BASE, BASE + 3600, by="timestamp") == [T, "zeta"]
    assert await store.tenants(BASE + 3600, BASE + 9000, by="timestamp") == [T]
    assert await store.tenants(BASE, BASE + 11, by="received_at") == [T, "zeta"]
    assert await store.oldest(by="timestamp") == BASE + 1
    assert await store.oldest(by="received_at") == BASE + 10


async def test_prune_removes_the_lines_received_before_the_cutoff(store: SqlLogStore) -> None:
    for batch in range(5):
        lines = [(log_line(BASE + batch * 100 + i), None) for i in range(30)]
        await store.append(T, archive_lines(lines), received_at=BASE + batch * 100)
    assert await store.prune(BASE + 250) == 90
    left = [r.received_at async for c in store.chunks(T, 0, BASE * 2) for r in c]
    assert sorted(set(left)) == [BASE + 300, BASE + 400]
    assert await store.prune(BASE + 250) == 0


async def test_reports_are_replaced_when_a_period_runs_again(store: SqlLogStore) -> None:
    hour = BASE
    await store.replace_hour(
        T, hour, [GroupCount("a", "INFO", None, 3), GroupCount("b", "WARN", "x", 1)]
    )
    await store.replace_hour(T, hour, [GroupCount("a", "INFO", None, 4)])
    await store.replace_hour("zeta", hour, [GroupCount("a", "INFO", None, 9)])
    rows = await store.hourly(T, hour, hour + 3600)
    assert [(r.service, r.template_id, r.count) for r in rows] == [("a", None, 4)]

    await store.save_quality(T, "2026-12-02", False, {"passed": False, "n": 1}, at=BASE)
    await store.save_quality(T, "2026-12-02", True, {"passed": True, "n": 2}, at=BASE + 1)
    await store.save_quality(T, "2026-12-01", True, {"passed": True, "n": 0}, at=BASE + 2)
    assert await store.quality(T, "2026-12-02") == {"passed": True, "n": 2}
    assert await store.latest_quality(T) == {"passed": True, "n": 2}
    assert await store.quality("zeta", "2026-12-02") is None

    assert await store.progress("aggregate") is None
    await store.set_progress("aggregate", hour, at=BASE)
    await store.set_progress("aggregate", hour + 3600, at=BASE)
    assert await store.progress("aggregate") == hour + 3600


async def test_a_day_checked_end_to_end(store: SqlLogStore) -> None:
    day_start = datetime(2026, 12, 2, tzinfo=UTC).timestamp()
    lines = [(log_line(day_start + 60 + i, service="api"), "t") for i in range(40)]
    lines += [(log_line(day_start + 30, service="api"), "t")] * 2  # out of order, twice
    await store.append(T, archive_lines(lines), received_at=day_start + 200)
    batch = LogBatch(store, store, LogBatchSettings(quality_chunk_rows=100))
    [report] = await batch.check_day(datetime(2026, 12, 2).date())
    assert report.records_checked == 42
    results = {c.name: c for c in report.checks}
    assert not results["timestamp_order"].passed and results["timestamp_order"].failing == 2
    assert results["duplicate_rate"].failing == 1
    assert not report.passed
    stored = await batch.quality_report(T)
    assert stored is not None and stored.records_checked == 42


async def test_write_rate_of_one_batch(store: SqlLogStore) -> None:
    """Not a benchmark: a batch of 2,000 lines goes in as one insert (the measured
    figure is in docs/logs.md)."""
    lines = [(log_line(BASE + i / 1000, trace_id="t"), "tpl") for i in range(2000)]
    assert await store.append(T, archive_lines(lines)) == 2000
    assert len(await all_lines(store, T)) == 2000


async def test_every_column_of_a_line_is_stored_as_given(store: SqlLogStore) -> None:
    # SQLite takes a faster insert (the driver's own, plain tuples) than the other
    # databases: both must store the same values, the JSON attributes readable back.
    line = log_line(BASE + 1, trace_id="t-1", pod="web-7").archive_line("tpl-9")
    bare = log_line(BASE + 2).archive_line(None)
    await store.append(T, [line, bare], received_at=BASE + 5)
    columns = [log_records.c[name] for name in ("tenant", "received_at", *ArchiveLine._fields)]
    async with store.reader.connect() as conn:
        rows = list(await conn.execute(select(*columns).order_by(log_records.c.seq)))
    assert [tuple(row) for row in rows] == [(T, BASE + 5, *line), (T, BASE + 5, *bare)]
    assert rows[0].attributes == {"user": "u1"} and rows[1].attributes is None
