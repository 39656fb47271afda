"""Crashes and shutdowns of a real server lose no accepted job and duplicate no result."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.testing.polling import poll_until
from inferline.testing.server import http_server, sqlite_url
from tests.support.servers import with_test_models


def moving_average(series: list[float], window: int) -> dict[str, object]:
    smoothed = [sum(series[i : i + window]) / window for i in range(len(series) - window + 1)]
    return {"smoothed": smoothed, "forecast": smoothed[-1]}


def make_inputs(count: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    inputs = []
    for _ in range(count):
        series = [float(rng.randint(-50, 50)) for _ in range(rng.randint(3, 30))]
        inputs.append({"series": series, "window": rng.randint(1, len(series))})
    return inputs


def submit_all(client: httpx.Client, inputs: list[dict[str, object]]) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(inputs), 100):
        chunk = inputs[start : start + 100]
        response = client.post(
            "/api/v1/jobs/batch",
            json={"jobs": [{"model": "moving-average", "input": item} for item in chunk]},
        )
        assert response.status_code == 202, response.text
        ids += [job["id"] for job in response.json()["jobs"]]
    return ids


def db_rows(db_path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(query).fetchall()


def wait_for_count(
    db_path: Path, status: str, accept: Callable[[int], bool], what: str, timeout: float
) -> None:
    poll_until(lambda: count_status(db_path, status), what, timeout=timeout, accept=accept)


def count_status(db_path: Path, status: str) -> int:
    return int(db_rows(db_path, f"SELECT count(*) FROM jobs WHERE status = '{status}'")[0][0])


def assert_each_job_succeeded_once(
    db_path: Path, ids: list[str], inputs: list[dict[str, object]]
) -> None:
    import json

    rows: dict[str, Any] = dict(
        db_rows(db_path, "SELECT id, result FROM jobs WHERE status = 'succeeded'")
    )
    assert len(rows) == len(ids), f"{len(ids) - len(rows)} jobs did not succeed"
    for job_id, item in zip(ids, inputs, strict=True):
        result = json.loads(rows[job_id])
        expected = moving_average(**item)  # type: ignore[arg-type]
        assert result["smoothed"] == pytest.approx(expected["smoothed"])
        assert result["forecast"] == pytest.approx(expected["forecast"])
    successes = db_rows(
        db_path,
        "SELECT job_id, count(*) FROM job_events WHERE type = 'job.succeeded' GROUP BY job_id",
    )
    assert len(successes) == len(ids)
    assert {count for _, count in successes} == {1}, "a job has more than one result"


@pytest.mark.slow
def test_a_thousand_jobs_all_succeed_with_correct_results(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    server = http_server("serve", sqlite_url(db), tmp_path / "server.log", models="moving-average")
    server.start().wait_ready()
    inputs = make_inputs(1000, seed=1)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        singles = [
            client.post("/api/v1/jobs", json={"model": "moving-average", "input": item}).json()[
                "id"
            ]
            for item in inputs[:100]
        ]
        ids = singles + submit_all(client, inputs[100:])
    wait_for_count(db, "succeeded", lambda n: n == 1000, "1,000 jobs succeeded", 120)
    server.stop()
    assert_each_job_succeeded_once(db, ids, inputs)


@pytest.mark.slow
def test_kill_9_mid_run_then_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    settings = {
        "models": "moving-average",
        "lease_seconds": "2",
        "batching": '{"moving-average": {"max_batch_size": 16, "max_wait_ms": 20}}',
    }
    first = http_server("serve", sqlite_url(db), tmp_path / "first.log", **settings)
    first.start().wait_ready()
    inputs = make_inputs(3000, seed=2)
    with httpx.Client(base_url=first.url, timeout=30) as client:
        ids = submit_all(client, inputs)
    wait_for_count(db, "succeeded", lambda n: n >= 300, "work under way", 60)
    first.kill()
    assert count_status(db, "succeeded") < 3000, "the crash came too late to prove anything"

    second = http_server("serve", sqlite_url(db), tmp_path / "second.log", **settings)
    second.start().wait_ready()
    wait_for_count(db, "succeeded", lambda n: n == 3000, "every job done after restart", 120)
    second.stop()
    assert_each_job_succeeded_once(db, ids, inputs)


@pytest.mark.slow
def test_sigterm_finishes_in_flight_batches_and_leaves_the_rest_queued(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    server = http_server(
        "serve",
        sqlite_url(db),
        tmp_path / "server.log",
        models="test-probe",
        model_plugins="tests.support.models:ProbeModel",
    )
    with_test_models(server)
    server.start().wait_ready()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        jobs = [{"model": "test-probe", "input": {"value": i, "sleep_ms": 800}} for i in range(40)]
        client.post("/api/v1/jobs/batch", json={"jobs": jobs}).raise_for_status()
    wait_for_count(db, "running", lambda n: n > 0, "a batch started", 30)
    # uvicorn re-raises the signal after its graceful shutdown: -15 is the clean exit
    code = server.stop()
    assert code in (0, -15), server.log_tail(80)
    assert "Application shutdown complete" in server.log_tail(200)
    statuses: dict[str, int] = dict(
        db_rows(db, "SELECT status, count(*) FROM jobs GROUP BY status")
    )
    assert statuses.get("running", 0) == 0 and statuses.get("failed", 0) == 0
    assert statuses.get("succeeded", 0) >= 8  # the batch under way when SIGTERM came finished
    assert statuses.get("queued", 0) > 0  # the worker stopped claiming
    assert sum(statuses.values()) == 40
    left = db_rows(db, "SELECT DISTINCT attempts FROM jobs WHERE status = 'queued'")
    assert set(left) <= {(0,)}, "a released job must not lose an attempt"
