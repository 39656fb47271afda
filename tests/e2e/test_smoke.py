"""A real server answers the basic routes."""

from __future__ import annotations

import httpx

from inferline.testing.server import ServerProcess, wait_for_job


def test_submit_and_finish_a_job(serve: ServerProcess) -> None:
    with httpx.Client(base_url=serve.url) as client:
        created = client.post(
            "/api/v1/jobs",
            json={"model": "moving-average", "input": {"series": [1, 2, 3, 4], "window": 2}},
        )
        assert created.status_code == 202
        job = wait_for_job(client, created.json()["id"])
        assert job["status"] == "succeeded"
        assert job["result"] == {"smoothed": [1.5, 2.5, 3.5], "forecast": 3.5}
