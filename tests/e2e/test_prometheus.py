"""`/metrics` passes `promtool check metrics`; a real Prometheus scrapes the API and a worker."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import (
    ServerProcess,
    free_port,
    wait_for_job,
    wait_for_live_workers,
)

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"

EXPECTED_FAMILIES = (
    "inferline_jobs_total",
    "inferline_job_retries_total",
    "inferline_job_latency_seconds_bucket",
    "inferline_queue_wait_seconds_bucket",
    "inferline_batch_service_seconds_bucket",
    "inferline_batch_size_bucket",
    "inferline_queue_depth",
    "inferline_jobs_in_flight",
    "inferline_model_load_seconds",
    "inferline_http_requests_total",
    "inferline_http_request_duration_seconds_bucket",
    "inferline_workers_alive",
)


def _some_traffic(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        job = client.post(
            "/api/v1/jobs", json={"model": "moving-average", "input": {"series": [1, 2, 3]}}
        )
        assert wait_for_job(client, job.json()["id"])["status"] == "succeeded"
        assert client.get("/api/v1/jobs/not-a-job").status_code == 404


def test_metrics_pass_promtool(serve: ServerProcess, promtool: str) -> None:
    _some_traffic(serve)
    text = httpx.get(f"{serve.url}/metrics").text
    for family in EXPECTED_FAMILIES:
        assert family in text, family
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == checked.stderr.strip() == ""  # no lint warnings at all


@pytest.fixture
def prometheus(tmp_path: Path, prometheus_bin: str) -> Iterator[Callable[[dict[str, int]], str]]:
    """Starts a real Prometheus scraping the given {job: port} every second; yields its URL."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(targets: dict[str, int]) -> str:
        port = free_port()
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            for job, target in targets.items()
        )
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {ALERTS}\nscrape_configs:\n{jobs}"
        )
        with (tmp_path / "prometheus.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        prometheus_bin,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        return f"http://127.0.0.1:{port}"

    yield start
    for process in processes:
        process.terminate()
        process.wait(30)


def _query_until(url: str, query: str, expected: str, timeout: float = 60.0) -> None:
    """Ask Prometheus `query` until every result's value is `expected` (it answers a
    plain-text 503 while it starts: that is "not yet", like no result)."""

    def values() -> list[str]:
        answer = json_answer(httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=2))
        return [result["value"][1] for result in answer["data"]["result"]]

    poll_until(
        values,
        f"{query} == {expected}",
        timeout=timeout,
        accept=lambda values: values and all(value == expected for value in values),
        interval=0.25,
    )


@pytest.mark.timeout(300)
def test_prometheus_scrapes_api_and_worker(
    api_only: ServerProcess,
    worker_factory: Callable[..., ServerProcess],
    prometheus: Callable[[dict[str, int]], str],
) -> None:
    worker_port = free_port()
    worker_factory("--metrics-port", str(worker_port))
    with httpx.Client(base_url=api_only.url) as client:
        wait_for_live_workers(client)  # its start must not eat into the job's wait
    _some_traffic(api_only)
    url = prometheus({"inferline-api": api_only.port or 0, "inferline-worker": worker_port})
    _query_until(url, 'up{job="inferline-api"}', "1")
    _query_until(url, 'up{job="inferline-worker"}', "1")
    _query_until(url, 'sum(inferline_workers_alive{job="inferline-worker"})', "1")
    _query_until(url, 'sum(inferline_jobs_total{job="inferline-worker",status="succeeded"})', "1")
    rules = json_answer(httpx.get(f"{url}/api/v1/rules"))["data"]["groups"]
    assert {group["name"] for group in rules} == {"inferline-sli", "inferline-alerts"}
