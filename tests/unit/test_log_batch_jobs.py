"""The hourly aggregation (counts, idempotent re-runs) and the scheduler (catch-up after
a restart with a test clock, the lease lock across schedulers, retention) on a real
SQLite archive in the test's directory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from inferline.adapters.memory.locks import InProcessLeaseLock
from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.locks import SqlLeaseLock
from inferline.adapters.sql.logs.store import SqlLogStore
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.adapters.sql.store import SqlJobStore
from inferline.apps.logs.aggregation import HOUR_SECONDS, parse_hour
from inferline.apps.logs.batch import LogBatch
from inferline.apps.logs.batch_settings import LogBatchSettings
from inferline.apps.logs.scheduler import AGGREGATE, LOCK_PREFIX, QUALITY, LogBatchScheduler
from inferline.testing.clock import FakeClock
from inferline.testing.server import sqlite_url
from tests.support.logs import archive_lines, log_line

T = "acme"
DAY = datetime(2026, 12, 2, tzinfo=UTC).timestamp()
H = HOUR_SECONDS


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(DAY + 10 * H)


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqlLogStore]:
    logs = SqlLogStore(
        sqlite_url(tmp_path / "logs.db"), create_engines, upgrade_to_head, clock=clock.now
    )
    await logs.start()
    yield logs
    await logs.close()


def batch_of(store: SqlLogStore, clock: FakeClock, **settings: object) -> LogBatch:
    values = {"aggregate_delay_seconds": 300.0, "quality_delay_seconds": 900.0, **settings}
    return LogBatch(store, store, LogBatchSettings(**values), clock)  # type: ignore[arg-type]


async def test_an_hour_is_counted_by_service_level_and_template(
    store: SqlLogStore, clock: FakeClock
) -> None:
    hour = DAY + 3 * H
    await store.append(
        T,
        archive_lines(
            [
                (log_line(hour + 1), "tpl-a"),
                (log_line(hour + 2), "tpl-a"),
                (log_line(hour + 3, level="ERROR", message="payment failed"), "tpl-b"),
                (log_line(hour + 4, service="cart"), None),
                (log_line(hour - 1), "tpl-a"),  # the hour before
                (log_line(hour + H), "tpl-a"),  # the hour after
            ]
        ),
    )
    await store.append("other", archive_lines([(log_line(hour + 5), "tpl-a")]))
    batch = batch_of(store, clock)
    [aggregate] = await batch.aggregate_hour(hour, T)
    assert aggregate.records == 4
    assert [(c.service, c.level, c.template_id, c.count) for c in aggregate.counts] == [
        ("checkout", "INFO", "tpl-a", 2),
        ("cart", "INFO", None, 1),
        ("checkout", "ERROR", "tpl-b", 1),
    ]
    stored = await batch.hourly(T, hour, hour + H)
    assert sorted((c.service, c.level, c.template_id, c.count) for c in stored) == sorted(
        (c.service, c.level, c.template_id, c.count) for c in aggregate.counts
    )
    every_tenant = await batch.aggregate_hour(hour)
    assert sorted((a.tenant, a.records) for a in every_tenant) == [(T, 4), ("other", 1)]


async def test_re_running_an_hour_replaces_its_counts(store: SqlLogStore, clock: FakeClock) -> None:
    hour = DAY + 3 * H
    batch = batch_of(store, clock)
    await store.append(
        T,
        archive_lines([(log_line(hour + 1), "tpl-a"), (log_line(hour + 2, service="cart"), None)]),
    )
    await batch.aggregate_hour(hour, T)
    await batch.aggregate_hour(hour, T)
    assert sum(c.count for c in await batch.hourly(T, hour, hour + H)) == 2
    await store.append(
        T, archive_lines([(log_line(hour + 3), "tpl-a")])
    )  # a late line, then a re-run
    await batch.aggregate_hour(hour, T)
    counts = {(c.service, c.template_id): c.count for c in await batch.hourly(T, hour, hour + H)}
    assert counts == {("checkout", "tpl-a"): 2, ("cart", None): 1}


def test_hours_are_read_strictly() -> None:
    assert parse_hour("2026-12-02T03") == DAY + 3 * H
    for bad in ("2026-12-02 03", "2026-12-02T3", "2026-12-02T24", "1969-12-31T23"):
        with pytest.raises(ValueError, match="expected YYYY-MM-DDTHH"):
            parse_hour(bad)


async def test_the_scheduler_catches_up_after_a_restart(
    store: SqlLogStore, clock: FakeClock
) -> None:
    # lines from 01:00 on; the clock says 10:00, so hours 01..08 are due (09 ends at
    # 10:00 and is due 5 minutes later); the day itself is not over
    await store.append(
        T, archive_lines([(log_line(DAY + h * H + 60), "tpl") for h in range(1, 10)])
    )
    lock = InProcessLeaseLock(clock=clock.now)
    scheduler = LogBatchScheduler(batch_of(store, clock), lock, "first")
    done = await scheduler.tick()
    assert done == [(AGGREGATE, DAY + h * H) for h in range(1, 9)]
    assert await store.progress(AGGREGATE) == DAY + 8 * H
    assert await scheduler.tick() == []  # nothing new is due

    # down for a day and a half: the restarted scheduler runs each missed hour once,
    # and the day's quality check once the day is over and its delay passed
    clock.set(DAY + 24 * H + 12 * H)
    restarted = LogBatchScheduler(batch_of(store, clock), lock, "second")
    done = await restarted.tick()
    hours = [period for job, period in done if job == AGGREGATE]
    assert hours == [DAY + h * H for h in range(9, 35)]
    assert [(job, period) for job, period in done if job == QUALITY] == [(QUALITY, DAY)]
    report = await restarted.batch.quality_report(T, date(2026, 12, 2))
    assert report is not None and report.records_checked == 9
    assert restarted.seconds_to_next() > 0


async def test_a_job_whose_lock_another_process_holds_is_left_alone(
    store: SqlLogStore, clock: FakeClock
) -> None:
    await store.append(T, archive_lines([(log_line(DAY + H + 60), "tpl")]))
    lock = InProcessLeaseLock(clock=clock.now)
    held = await lock.acquire(LOCK_PREFIX + AGGREGATE, "elsewhere", 60)
    assert held is not None
    scheduler = LogBatchScheduler(batch_of(store, clock), lock, "here")
    assert await scheduler.tick() == []
    assert await store.progress(AGGREGATE) is None
    clock.advance(61)  # the other holder's lease runs out: this one takes over
    assert [job for job, _ in await scheduler.tick()] == [AGGREGATE] * 8
    assert (await lock.acquire(LOCK_PREFIX + AGGREGATE, "elsewhere", 60)) is not None


async def test_aggregation_prunes_lines_past_the_retention(
    store: SqlLogStore, clock: FakeClock
) -> None:
    await store.append(T, archive_lines([(log_line(DAY + 60), "tpl")]), received_at=DAY + 60)
    await store.append(T, archive_lines([(log_line(DAY + 9 * H), "tpl")]), received_at=DAY + 9 * H)
    batch = batch_of(store, clock, retention_days=0.25)  # 6 hours: lines before 04:00 go
    scheduler = LogBatchScheduler(batch, InProcessLeaseLock(clock=clock.now), "me")
    await scheduler.tick()
    left = [r.seq async for chunk in store.chunks(T, 0, DAY + 24 * H) for r in chunk]
    assert len(left) == 1


async def test_two_schedulers_sharing_the_database_lock_run_each_period_once(
    tmp_path: Path, store: SqlLogStore, clock: FakeClock
) -> None:
    await store.append(
        T, archive_lines([(log_line(DAY + h * H + 60), "tpl") for h in range(1, 10)])
    )
    jobs = SqlJobStore(sqlite_url(tmp_path / "logs.db"), clock=clock)  # the same database
    await jobs.start()
    try:
        lock = SqlLeaseLock(jobs)
        first = LogBatchScheduler(batch_of(store, clock), lock, "process-1")
        second = LogBatchScheduler(batch_of(store, clock), lock, "process-2")
        done = await asyncio.gather(first.tick(), second.tick())
    finally:
        await jobs.close()
    periods = sorted(period for ran in done for _, period in ran)
    assert periods == [DAY + h * H for h in range(1, 9)]  # each hour by one of them
