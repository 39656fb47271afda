"""The dashboard's figures, computed from the embedded SQLite store (no server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inferline.adapters.sql.store import SqlJobStore
from inferline.api.routes.ui import index_response
from inferline.application.admission import QueueDepths
from inferline.application.dashboard import (
    DashboardConfig,
    DashboardService,
    percentile,
    process_figures,
    stream_figures,
)
from inferline.core.metrics import Metrics
from inferline.domain.jobs import NewJob, Outcome, OutcomeKind, RetryPolicy


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlJobStore]:
    store = SqlJobStore(db_url)
    await store.start()
    yield store
    await store.close()


def _job(job_id: str, model: str = "echo") -> NewJob:
    return NewJob(
        id=job_id, tenant="default", model=model, model_version="1", input={"x": 1}, max_attempts=1
    )


def _service(store: SqlJobStore, config: DashboardConfig | None = None) -> DashboardService:
    return DashboardService(
        store,
        QueueDepths(),
        Metrics(),
        models=lambda: [{"name": "echo"}, {"name": "idle"}],
        workers=lambda: [],
        config=config,
    )


async def test_statistics_and_recent_results(store: SqlJobStore) -> None:
    ids = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(4)]
    await store.create_jobs([_job(i) for i in ids])
    claimed = await store.claim_jobs("echo", 3, "worker-a", 30)
    assert await store.active_workers() == {"worker-a": 3}
    outcomes = [
        Outcome(claimed[0].id, 1, OutcomeKind.SUCCEEDED, result={"y": 1}),
        Outcome(claimed[1].id, 1, OutcomeKind.SUCCEEDED, result={"y": 2}),
        Outcome(claimed[2].id, 1, OutcomeKind.FAILED, error="boom"),  # 1 attempt: dead
    ]
    await store.complete_jobs(outcomes, RetryPolicy())

    update = await _service(store).snapshot("default")

    assert update["type"] == "update" and update["timestamp"]
    assert update["statistics"] | {"by_status": None} == {
        "total_jobs": 4,
        "completed": 2,
        "failed": 1,
        "success_rate": round(2 / 3, 4),
        "queued": 1,
        "running": 0,
        "retrying": 0,
        "cancelled": 0,
        "by_status": None,
    }
    recent = update["recent_results"]
    assert [r["status"] for r in recent] == ["dead", "succeeded", "succeeded"]
    assert recent[0]["error"] == "boom" and recent[1]["result"] is not None
    assert update["window"]["finished"] == 3
    assert update["window"]["latency_seconds"]["p99"] is not None
    by_model = {m["name"]: m for m in update["models"]}
    assert by_model["echo"]["succeeded"] == 2 and by_model["echo"]["failed"] == 1
    assert by_model["idle"]["finished"] == 0 and by_model["idle"]["success_rate"] is None
    assert update["workers"]["holding_jobs"] == []


async def test_counts_are_exact_when_latencies_are_sampled(store: SqlJobStore) -> None:
    ids = [f"00000000-0000-0000-0000-0000000001{i:02d}" for i in range(5)]
    await store.create_jobs([_job(i) for i in ids])
    claimed = await store.claim_jobs("echo", 5, "worker-a", 30)
    await store.complete_jobs(
        [Outcome(j.id, 1, OutcomeKind.SUCCEEDED, result={}) for j in claimed], RetryPolicy()
    )
    update = await _service(store, DashboardConfig(max_window_events=2)).snapshot(None)
    assert update["window"]["finished"] == 5
    assert update["window"]["jobs_per_second"] == round(5 / 60, 3)
    assert update["window"]["latency_seconds"]["p50"] is not None


async def test_snapshot_is_shared_for_a_moment(store: SqlJobStore) -> None:
    service = _service(store)
    first = await service.snapshot("default")
    await store.create_jobs([_job("00000000-0000-0000-0000-0000000000aa")])
    assert await service.snapshot("default") is first  # cached for cache_seconds


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile([0.2], 99) == 0.2
    assert percentile([], 50) is None


def test_process_figures_read_batch_sizes_and_cache_counters() -> None:
    metrics = Metrics()
    for size in (4, 8):
        metrics.batch_size.labels("echo").observe(size)
    metrics.cache_hits.labels("embeddings").inc(3)
    metrics.cache_misses.labels("embeddings").inc(1)
    figures = process_figures(metrics)
    assert figures["mean_batch_size"] == {"echo": 6.0}
    assert figures["batches"] == {"echo": 2}
    assert figures["cache"] == {"hits": 3, "misses": 1, "hit_rate": 0.75}


def test_stream_figures_sum_counters_and_lag_per_input_topic() -> None:
    metrics = Metrics()
    assert stream_figures(metrics) == []
    metrics.stream_records_in.labels("news.raw").inc(10)
    metrics.stream_records_out.labels("news.raw").inc(7)
    metrics.stream_dead_lettered.labels("news.raw", "not_json").inc(1)
    metrics.stream_dead_lettered.labels("news.raw", "invalid_input").inc(2)
    metrics.stream_lag.labels("news.raw", "0").set(4)
    metrics.stream_lag.labels("news.raw", "1").set(5)
    assert stream_figures(metrics) == [
        {
            "topic": "news.raw",
            "records_in": 10,
            "records_out": 7,
            "dead_lettered": 3,
            "lag": 9,
            "lag_by_partition": {"0": 4, "1": 5},
        }
    ]


def test_page_says_how_to_build_when_the_build_is_missing(tmp_path: Path) -> None:
    response = index_response(tmp_path)
    assert response.status_code == 200
    assert b"make setup" in response.body and b"npm run build" in response.body
