"""Readiness while models load, queue admission limits, and the command-line client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, http_server, sqlite_url

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_readyz_is_503_until_models_are_loaded(tmp_path: Path) -> None:
    server = http_server(
        "serve",
        sqlite_url(tmp_path / "jobs.db"),
        tmp_path / "server.log",
        models="test-slow-load",
        model_plugins="tests.support.models:SlowLoadingModel",
    )
    server.env["PYTHONPATH"] = str(REPO_ROOT)
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


def test_a_full_job_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
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
    body = {"model": "moving-average", "input": {"series": [1, 2, 3]}}
    try:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(5):
                assert client.post("/api/v1/jobs", json=body).status_code == 202
            response = poll_until(  # the depth monitor refreshes once a second
                lambda: client.post("/api/v1/jobs", json=body),
                "the queue limit applied",
                timeout=15,
                accept=lambda response: response.status_code != 202,
                interval=0.1,
            )
            assert response.status_code == 429
            assert response.json()["error"]["code"] == "overloaded"
            assert int(response.headers["retry-after"]) >= 1
            stored = len(client.get("/api/v1/jobs", params={"limit": 100}).json()["jobs"])
            assert client.post("/api/v1/jobs", json=body).status_code == 429
            assert len(client.get("/api/v1/jobs", params={"limit": 100}).json()["jobs"]) == stored
    finally:
        server.stop()


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INFERLINE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "inferline.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


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
