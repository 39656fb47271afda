"""`inferline top` renders a running server's live figures."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from rich.console import Console

from inferline import top
from inferline.testing.server import ServerProcess, wait_for_job


def _run_jobs(server: ServerProcess, count: int) -> list[str]:
    with httpx.Client(base_url=server.url) as client:
        ids = [
            client.post(
                "/api/v1/jobs", json={"model": "moving-average", "input": {"series": [i, 1, 2]}}
            ).json()["id"]
            for i in range(count)
        ]
        for job_id in ids:
            assert wait_for_job(client, job_id)["status"] == "succeeded"
    return ids


def test_renders_a_frame_from_a_real_server(serve: ServerProcess) -> None:
    ids = _run_jobs(serve, 3)
    console = Console(record=True, width=140, color_system=None)
    console.print(top.render(top.fetch_snapshot(serve.url), source=serve.url))
    frame = console.export_text()
    assert "moving-average v1" in frame
    assert "Total jobs   3" in frame and "Completed    3" in frame
    assert "Success rate     100.0 %" in frame
    assert ids[-1][:18] in frame  # the newest result is listed
    assert "alive" in frame  # the worker inside `serve`


def test_once_prints_one_frame(serve: ServerProcess) -> None:
    _run_jobs(serve, 1)
    printed = subprocess.run(
        [sys.executable, "-m", "inferline.cli", "top", "--once", "--url", serve.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert printed.returncode == 0, printed.stderr
    assert "Recent results" in printed.stdout and "succeeded" in printed.stdout
