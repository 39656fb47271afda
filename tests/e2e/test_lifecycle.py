"""Job lifecycle across real processes: retries, dead, expiry, cancel, separate workers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from inferline.testing.polling import poll_until
from inferline.testing.server import (
    ServerProcess,
    http_server,
    sqlite_url,
    wait_for_job,
    wait_for_live_workers,
    worker_process,
)
from tests.support.servers import GatedServer, with_test_models

PROBE = {"models": "test-probe", "model_plugins": "tests.support.models:ProbeModel"}


@pytest.fixture
def probe_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = with_test_models(
        http_server(
            "serve",
            sqlite_url(tmp_path / "jobs.db"),
            tmp_path / "server.log",
            retry_base_seconds="0.05",
            retry_max_seconds="0.2",
            **PROBE,
        )
    )
    server.start().wait_ready()
    yield server
    server.stop()


def statuses(client: httpx.Client, job_id: str) -> list[str]:
    return [e["status"] for e in client.get(f"/api/v1/jobs/{job_id}/events").json()["events"]]


def test_failing_job_is_retried_with_backoff_then_dead(probe_server: ServerProcess) -> None:
    with httpx.Client(base_url=probe_server.url) as client:
        job = client.post(
            "/api/v1/jobs",
            json={"model": "test-probe", "input": {"value": 1, "fail": True}, "max_attempts": 3},
        ).json()
        dead = wait_for_job(client, job["id"])
        assert dead["status"] == "dead" and dead["attempts"] == 3
        assert "asked to fail" in str(dead["error"])
        assert statuses(client, job["id"]) == [
            "queued",
            "running",
            "failed",
            "running",
            "failed",
            "running",
            "dead",
        ]
        metrics = client.get("/metrics").text
        assert 'inferline_job_retries_total{model="test-probe"} 2.0' in metrics
        assert 'inferline_jobs_total{model="test-probe",status="dead"} 1.0' in metrics


def test_one_bad_job_in_a_batch_fails_alone(probe_server: ServerProcess) -> None:
    with httpx.Client(base_url=probe_server.url) as client:
        jobs = [
            {"model": "test-probe", "input": {"value": i, "fail": i == 3}, "max_attempts": 1}
            for i in range(8)
        ]
        ids = [
            j["id"] for j in client.post("/api/v1/jobs/batch", json={"jobs": jobs}).json()["jobs"]
        ]
        finished = [wait_for_job(client, job_id) for job_id in ids]
    assert [j["status"] for j in finished] == ["succeeded"] * 3 + ["dead"] + ["succeeded"] * 4
    assert [j["result"]["doubled"] for j in finished if j["result"]] == [0, 2, 4, 8, 10, 12, 14]


def test_cancel_and_retry_a_queued_job(api_only: ServerProcess) -> None:
    with httpx.Client(base_url=api_only.url) as client:
        job = client.post(
            "/api/v1/jobs", json={"model": "moving-average", "input": {"series": [1, 2, 3]}}
        ).json()
        cancelled = client.delete(f"/api/v1/jobs/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = client.delete(f"/api/v1/jobs/{job['id']}")
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
        retried = client.post(f"/api/v1/jobs/{job['id']}/retry")
        assert retried.status_code == 202 and retried.json()["status"] == "queued"
        assert statuses(client, job["id"]) == ["queued", "cancelled", "queued"]
        assert client.post(f"/api/v1/jobs/{job['id']}/retry").status_code == 409
        assert client.delete("/api/v1/jobs/unknown").status_code == 404


def test_deadline_passed_before_a_worker_came_means_expired(
    api_only: ServerProcess, tmp_path: Path
) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=1)
    with httpx.Client(base_url=api_only.url) as client:
        late = client.post(
            "/api/v1/jobs",
            json={
                "model": "moving-average",
                "input": {"series": [1, 2, 3]},
                "deadline": deadline.isoformat(),
            },
        ).json()
        on_time = client.post(
            "/api/v1/jobs", json={"model": "moving-average", "input": {"series": [1, 2, 3]}}
        ).json()
        poll_until(lambda: datetime.now(UTC) > deadline, "the deadline passed", timeout=5)
        worker = worker_process(
            api_only.env["INFERLINE_DATABASE_URL"], tmp_path / "worker.log", models="moving-average"
        )
        worker.start()
        try:
            wait_for_live_workers(client)
            expired = wait_for_job(client, late["id"])
            assert expired["status"] == "expired" and expired["attempts"] == 0
            assert "deadline" in str(expired["error"])
            assert wait_for_job(client, on_time["id"])["status"] == "succeeded"
        finally:
            worker.stop()


def test_a_claimed_job_whose_deadline_passes_in_the_batcher_expires_without_running(
    gated: GatedServer,
) -> None:
    with httpx.Client(base_url=gated.url) as client:
        blocker = client.post(
            "/api/v1/jobs", json={"model": "test-gated", "input": {"value": 1, "hold": True}}
        ).json()
        poll_until(
            lambda: gated.seen() == [[1.0]], "the blocking batch is in the model", timeout=30
        )
        deadline = datetime.now(UTC) + timedelta(seconds=2)
        late = client.post(
            "/api/v1/jobs",
            json={
                "model": "test-gated",
                "input": {"value": 2},
                "deadline": deadline.isoformat(),
            },
        ).json()
        claimed = wait_for_job(client, late["id"], frozenset({"running"}), timeout=2)
        assert claimed["attempts"] == 1  # claimed in time; now it waits in the batcher
        poll_until(lambda: datetime.now(UTC) > deadline, "the deadline passed", timeout=10)
        gated.open_gate()
        assert wait_for_job(client, blocker["id"])["status"] == "succeeded"
        expired = wait_for_job(client, late["id"])
        assert expired["status"] == "expired" and expired["result"] is None
        assert "deadline" in str(expired["error"])
        assert statuses(client, late["id"]) == ["queued", "running", "expired"]
        metrics = client.get("/metrics").text
    assert gated.seen() == [[1.0]], "the expired job reached the model"
    assert 'inferline_jobs_total{model="test-gated",status="expired"} 1.0' in metrics


@pytest.mark.slow
def test_api_and_two_worker_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    api = http_server("api", sqlite_url(db), tmp_path / "api.log", models="moving-average")
    api.start().wait_ready()
    workers = [
        worker_process(
            sqlite_url(db),
            tmp_path / f"worker{i}.log",
            *args,
            models="moving-average",
            batching='{"moving-average": {"max_batch_size": 8, "max_wait_ms": 5}}',
        )
        for i, args in enumerate([("--concurrency", "2"), ()])
    ]
    for worker in workers:
        worker.start()
    try:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            wait_for_live_workers(client, count=2)
            jobs = [
                {"model": "moving-average", "input": {"series": [i, i + 1, i + 2]}}
                for i in range(600)
            ]
            ids = []
            for start in range(0, 600, 100):
                response = client.post(
                    "/api/v1/jobs/batch", json={"jobs": jobs[start : start + 100]}
                )
                ids += [j["id"] for j in response.json()["jobs"]]
            finished = [wait_for_job(client, job_id, timeout=60) for job_id in ids]
    finally:
        for worker in workers:
            worker.stop()
        api.stop()
    assert {j["status"] for j in finished} == {"succeeded"}
    assert {j["attempts"] for j in finished} == {1}, "a job was claimed twice"
    with sqlite3.connect(db) as conn:
        claims = conn.execute(
            "SELECT job_id, count(*) FROM job_events WHERE type = 'job.running' GROUP BY job_id"
        ).fetchall()
        claimers = conn.execute(
            "SELECT count(DISTINCT json_extract(payload, '$.started_at')) FROM job_events"
        ).fetchone()
    assert len(claims) == 600 and {n for _, n in claims} == {1}
    assert claimers[0] > 1
    logs = "".join(w.log_tail(400) for w in workers)
    assert logs.count("started for ['moving-average']") == 3  # three claimers in two processes
