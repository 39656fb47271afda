"""An idle worker in another process is visible on the dashboard while it lives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import ServerProcess, wait_for_live_workers, worker_process


def live_workers(client: httpx.Client) -> list[dict[str, Any]]:
    snapshot = json_answer(client.get("/api/v1/dashboard/snapshot"))
    workers: list[dict[str, Any]] = snapshot["workers"]["live"]
    return workers


def test_separate_idle_worker_shows_as_live_until_it_stops(
    api_only: ServerProcess, tmp_path: Path
) -> None:
    worker = worker_process(
        api_only.env["INFERLINE_DATABASE_URL"], tmp_path / "worker.log", models="moving-average"
    )
    worker.start()
    with httpx.Client(base_url=api_only.url) as client:
        try:
            [seen] = wait_for_live_workers(client)
            assert seen["models"] == ["moving-average"] and seen["in_flight"] == 0
            assert worker.process is not None and seen["pid"] == worker.process.pid
        finally:
            worker.stop()
        # a clean stop removes the row at once (a crashed worker ages out after 1.5 leases)
        poll_until(lambda: not live_workers(client), "the worker left", timeout=10)
