"""An unhandled exception (a bug, not an Inferline error) is answered, counted and logged once.

The bug is real: a test model's input validator raises `LookupError`, which Pydantic
does not turn into a validation error, so it leaves the route unhandled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from inferline.testing.server import http_server

BUGGY = {"models": "test-buggy-input", "model_plugins": "tests.support.models:BuggyValidationModel"}
INFER_ROUTE = "/api/v1/models/{name}/infer"
SUBMIT_ROUTE = "/api/v1/jobs"


def _requests_counted(metrics_text: str, route: str, status: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "inferline_http_requests":
            for sample in family.samples:
                labels = sample.labels
                if sample.name.endswith("_total") and labels == {
                    "route": route,
                    "method": "POST",
                    "status": status,
                }:
                    return sample.value
    return 0.0


def _log_entries(log_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]


def test_an_unhandled_exception_is_a_json_500_counted_and_logged_once(
    tmp_path: Path, db_url: str
) -> None:
    log_path = tmp_path / "server.log"
    server = http_server("serve", db_url, log_path, **BUGGY).start().wait_ready()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            ok = client.post("/api/v1/models/test-buggy-input/infer", json={"input": {"value": 2}})
            assert ok.status_code == 200, ok.text
            infer = client.post(
                "/api/v1/models/test-buggy-input/infer",
                json={"input": {"value": 2, "trip": True}},
                headers={"X-Request-ID": "bug-infer-1"},
            )
            submit = client.post(
                "/api/v1/jobs",
                json={"model": "test-buggy-input", "input": {"value": 2, "trip": True}},
                headers={"X-Request-ID": "bug-submit-1"},
            )
            for response, request_id in ((infer, "bug-infer-1"), (submit, "bug-submit-1")):
                assert response.status_code == 500, response.text
                assert response.headers["content-type"] == "application/json"
                assert response.headers["x-request-id"] == request_id
                assert response.json() == {
                    "error": {
                        "code": "internal",
                        "message": "internal error; see the server log",
                        "details": {"request_id": request_id},
                    }
                }
            metrics = client.get("/metrics").text
        assert _requests_counted(metrics, INFER_ROUTE, "500") == 1
        assert _requests_counted(metrics, SUBMIT_ROUTE, "500") == 1
    finally:
        server.stop()

    entries = _log_entries(log_path)
    for request_id, route in (("bug-infer-1", INFER_ROUTE), ("bug-submit-1", SUBMIT_ROUTE)):
        lines = [e for e in entries if e.get("request_id") == request_id]
        assert len(lines) == 1, lines
        [line] = lines
        assert line["level"] == "error" and line["status"] == 500 and line["route"] == route
        assert "LookupError" in line["exc_info"]
    # The traceback is in those two lines only: nothing (uvicorn) logs it again without an id.
    tracebacks = [e for e in entries if "LookupError" in json.dumps(e)]
    assert len(tracebacks) == 2, tracebacks
