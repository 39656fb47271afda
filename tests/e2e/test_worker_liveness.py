"""An idle worker in another process is visible on the dashboard while it lives."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from inferline.testing.server import ServerProcess, worker_process


def live_workers(client: httpx.Client) -> list[dict[str, Any]]:
    workers: list[dict[str, Any]] = client.get("/api/v1/dashboard/snapshot").json()["workers"][
        "live"
    ]
    return workers


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_separate_idle_worker_shows_as_live_until_it_stops(
    api_only: ServerProcess, tmp_path: Path
) -> None:
    worker = worker_process(
        api_only.env["INFERLINE_DATABASE_URL"], tmp_path / "worker.log", models="moving-average"
    )
    worker.start()
    with httpx.Client(base_url=api_only.url) as client:
        try:
            wait_until(lambda: live_workers(client), 30, "the worker's first heartbeat")
            [seen] = live_workers(client)
            assert seen["models"] == ["moving-average"] and seen["in_flight"] == 0
            assert worker.process is not None and seen["pid"] == worker.process.pid
        finally:
            worker.stop()
        # a clean stop removes the row at once (a crashed worker ages out after 1.5 leases)
        wait_until(lambda: not live_workers(client), 10, "the worker to leave")
