"""Readiness while models load, queue admission limits, and the command-line client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, http_server, sqlite_url
from tests.support.auth import inferline_cli
from tests.support.servers import with_test_models


def test_readyz_is_503_until_models_are_loaded(tmp_path: Path) -> None:
    server = http_server(
        "serve",
        sqlite_url(tmp_path / "jobs.db"),
        tmp_path / "server.log",
        models="test-slow-load",
        model_plugins="tests.support.models:SlowLoadingModel",
    )
    with_test_models(server)
    server.start()
    try:
        # the process answers before the model is loaded
        live = poll_until(
            lambda: httpx.get(f"{server.url}/livez", timeout=1),
            "/livez answers",
            timeout=30,
            accept=lambda response: response.status_code == 200,
        )
        assert live.json() == {"status": "ok"}
        not_ready = httpx.get(f"{server.url}/readyz")
        assert not_ready.status_code == 503
        assert "model test-slow-load: loading" in not_ready.json()["reasons"]
        server.wait_ready()
        assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready"}
        models = httpx.get(f"{server.url}/api/v1/models").json()["models"]
        assert models[0]["loaded"] is True and models[0]["load_seconds"] >= 3.0
    finally:
        server.stop()


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[ServerProcess]:
    """`inferline serve` without workers (jobs stay queued) and a queue limit of 5 jobs."""
    server = http_server(
        "serve",
        sqlite_url(tmp_path / "jobs.db"),
        tmp_path / "server.log",
        "--workers-in-process",
        "0",
        models="moving-average",
        max_queued_jobs="5",
    )
    server.start().wait_ready()
    yield server
    server.stop()


JOB = {"model": "moving-average", "input": {"series": [1, 2, 3]}}


def stored_jobs(client: httpx.Client) -> int:
    return len(client.get("/api/v1/jobs", params={"limit": 100}).json()["jobs"])


def assert_overloaded(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "overloaded"
    assert int(response.headers["retry-after"]) >= 1


def test_a_full_job_queue_answers_429_with_retry_after(limited: ServerProcess) -> None:
    with httpx.Client(base_url=limited.url) as client:
        for _ in range(5):
            assert client.post("/api/v1/jobs", json=JOB).status_code == 202
        assert_overloaded(client.post("/api/v1/jobs", json=JOB))  # at once, not a second later
        assert_overloaded(client.post("/api/v1/jobs/batch", json={"jobs": [JOB]}))
        assert stored_jobs(client) == 5


async def test_a_burst_of_concurrent_submits_admits_exactly_the_limit(
    limited: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as client:
        burst = await asyncio.gather(
            *(
                client.post("/api/v1/jobs", json={**JOB, "idempotency_key": f"k{i}"})
                for i in range(20)
            )
        )
        accepted = [r for r in burst if r.status_code == 202]
        assert len(accepted) == 5, [r.status_code for r in burst]
        for refused in (r for r in burst if r.status_code != 202):
            assert_overloaded(refused)
        new_key = await client.post("/api/v1/jobs", json={**JOB, "idempotency_key": "k-new"})
        assert_overloaded(new_key)  # a new key is a new job: refused
        again = accepted[0].json()
        resubmitted = await client.post(
            "/api/v1/jobs", json={**JOB, "idempotency_key": again["idempotency_key"]}
        )
        assert resubmitted.status_code == 202, "an idempotent resubmit was refused"
        assert resubmitted.json()["id"] == again["id"]
        assert resubmitted.headers["idempotent-replayed"] == "true"


async def test_concurrent_batches_are_admitted_whole_or_not_at_all(
    limited: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as client:
        batches = await asyncio.gather(
            *(client.post("/api/v1/jobs/batch", json={"jobs": [JOB, JOB]}) for _ in range(4))
        )
        assert sorted(r.status_code for r in batches) == [202, 202, 429, 429]
        jobs = (await client.get("/api/v1/jobs", params={"limit": 100})).json()["jobs"]
        assert len(jobs) == 4  # two whole batches; a third would have made six


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return inferline_cli({**os.environ, "INFERLINE_URL": url}, *args)


def test_command_line_client(serve: ServerProcess) -> None:
    done = cli(
        "submit",
        "moving-average",
        "--input",
        '{"series": [2, 4, 6], "window": 2}',
        "--wait",
        url=serve.url,
    )
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "succeeded" and job["result"] == {
        "smoothed": [3.0, 5.0],
        "forecast": 5.0,
    }
    listing = cli("jobs", url=serve.url)
    assert job["id"] in listing.stdout and "succeeded" in listing.stdout
    shown = cli("jobs", job["id"], url=serve.url)
    assert json.loads(shown.stdout)["id"] == job["id"]
    models = cli("models", url=serve.url)
    assert "moving-average" in models.stdout and "loaded" in models.stdout
    assert "batch 256 / 2.0 ms, 1 at once" in models.stdout

    bad_json = cli("submit", "moving-average", "--input", "{oops", url=serve.url)
    assert bad_json.returncode != 0 and "not valid JSON" in bad_json.stderr
    bad_model = cli("submit", "nope", "--input", "{}", url=serve.url)
    assert bad_model.returncode != 0 and "404 not_found" in bad_model.stderr
    unreachable = cli("models", url="http://127.0.0.1:9")
    assert unreachable.returncode != 0 and "cannot reach" in unreachable.stderr


def test_the_client_reaches_a_server_on_another_port_by_flag_or_environment(
    serve: ServerProcess,
) -> None:
    """`--url` wins over INFERLINE_URL; a trailing slash or a missing scheme still works."""
    host_port = serve.url.removeprefix("http://")
    nowhere = "http://127.0.0.1:9"
    for args, env_url in (
        (["--url", serve.url], nowhere),
        (["--url", f"{serve.url}/"], nowhere),
        (["--url", host_port], nowhere),
        ([], f"{serve.url}/"),
        ([], host_port),
    ):
        models = cli("models", *args, url=env_url)
        assert models.returncode == 0, (args, env_url, models.stderr)
        assert "moving-average" in models.stdout
    frame = subprocess.run(
        [sys.executable, "-m", "inferline.cli", "top", "--once", "--url", f"{host_port}/"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert frame.returncode == 0, frame.stderr
    assert "moving-average" in frame.stdout
