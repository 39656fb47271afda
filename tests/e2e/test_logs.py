"""JSON logs: request lines carry the request_id the response returns; job lines carry
job_id and model."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from inferline.testing.server import http_server, wait_for_job


def _lines(log_path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in log_path.read_text().splitlines():
        if line.strip():
            entries.append(json.loads(line))  # every line is one JSON object
    return entries


def test_request_and_job_lines_carry_their_ids(tmp_path: Path, db_url: str) -> None:
    log_path = tmp_path / "server.log"
    server = http_server("serve", db_url, log_path, models="moving-average", log_level="DEBUG")
    server.start().wait_ready()
    try:
        with httpx.Client(base_url=server.url) as client:
            created = client.post(
                "/api/v1/jobs",
                json={"model": "moving-average", "input": {"series": [1, 2, 3]}},
                headers={"X-Request-ID": "req-from-client-1"},
            )
            assert created.headers["x-request-id"] == "req-from-client-1"
            job_id = created.json()["id"]
            wait_for_job(client, job_id)
            generated = client.get("/api/v1/models").headers["x-request-id"]
            assert re.fullmatch(r"[0-9a-f]{32}", generated)
    finally:
        server.stop()
    entries = _lines(log_path)

    access = [e for e in entries if e["logger"] == "inferline.access"]
    submitted = next(e for e in access if e.get("request_id") == "req-from-client-1")
    assert submitted["route"] == "/api/v1/jobs" and submitted["status"] == 202
    assert any(e.get("request_id") == generated and e["route"] == "/api/v1/models" for e in access)
    assert all(e.get("request_id") for e in access)

    about_job = [e for e in entries if e.get("job_id") == job_id]
    queued = next(e for e in about_job if "queued" in e["message"])
    assert queued["request_id"] == "req-from-client-1"
    assert any("succeeded" in e["message"] for e in about_job)
    assert all(e["model"] == "moving-average" for e in about_job)
