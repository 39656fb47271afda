"""`WS /api/v1/dashboard/ws` pushes source S2's update message every 2 seconds."""

from __future__ import annotations

import json
import time
from datetime import datetime

import httpx
from websockets.sync.client import connect

from inferline.testing.server import ServerProcess, wait_for_job


def test_pushes_updates_every_two_seconds(serve: ServerProcess) -> None:
    with httpx.Client(base_url=serve.url) as client:
        job = client.post(
            "/api/v1/jobs", json={"model": "moving-average", "input": {"series": [1, 2, 3]}}
        ).json()
        wait_for_job(client, job["id"])
        snapshot = client.get("/api/v1/dashboard/snapshot").json()
    assert snapshot["statistics"]["completed"] == 1

    url = serve.url.replace("http://", "ws://") + "/api/v1/dashboard/ws"
    with connect(url, open_timeout=10) as socket:
        first = json.loads(socket.recv(timeout=10))
        received_first = time.monotonic()
        second = json.loads(socket.recv(timeout=10))
        gap = time.monotonic() - received_first
    for update in (first, second):
        assert update["type"] == "update"
        assert set(update) >= {"timestamp", "recent_results", "statistics"}
        assert set(update["statistics"]) >= {"total_jobs", "completed", "failed", "success_rate"}
    assert first["statistics"]["total_jobs"] == 1
    assert first["statistics"]["success_rate"] == 1.0
    assert first["recent_results"][0]["job_id"] == job["id"]
    assert first["recent_results"][0]["result"] == {"smoothed": [2.0], "forecast": 2.0}
    assert 1.5 < gap < 3.5
    stamps = [datetime.fromisoformat(update["timestamp"]) for update in (first, second)]
    assert 1.5 < (stamps[1] - stamps[0]).total_seconds() < 3.5
