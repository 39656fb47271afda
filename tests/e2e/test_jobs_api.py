"""The jobs and models API of a real server: contract, errors, idempotency, paging, events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from inferline.testing.server import ServerProcess, http_server, wait_for_job
from tests.support.servers import with_test_models

SERIES = {"series": [1.0, 2.0, 3.0, 4.0, 5.0], "window": 2}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module: both built-in models plus the test probe, 64 KiB body limit."""
    tmp = tmp_path_factory.mktemp("api")
    proc = http_server(
        "serve",
        f"sqlite+aiosqlite:///{tmp / 'api.db'}",
        tmp / "server.log",
        models="moving-average,lstm-forecast,test-probe",
        model_plugins="tests.support.models:ProbeModel",
        max_body_bytes="65536",
    )
    with_test_models(proc)
    proc.start().wait_ready()
    yield proc
    proc.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def submit(client: httpx.Client, **body: object) -> httpx.Response:
    return client.post("/api/v1/jobs", json={"model": "moving-average", "input": SERIES, **body})


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    if field is not None:
        assert field in error["message"]
        assert any(d["field"] == field for d in error["details"]), error["details"]


def test_job_resource_has_every_documented_field(client: httpx.Client) -> None:
    created = submit(client, priority=5, metadata={"source": "test"})
    assert created.status_code == 202
    job = created.json()
    assert created.headers["location"] == f"/api/v1/jobs/{job['id']}"
    for key in (
        "id",
        "model",
        "model_version",
        "status",
        "input",
        "result",
        "error",
        "attempts",
        "priority",
        "metadata",
        "created_at",
        "started_at",
        "finished_at",
    ):
        assert key in job
    assert (job["status"], job["priority"], job["metadata"]) == ("queued", 5, {"source": "test"})
    done = wait_for_job(client, job["id"])
    assert done["status"] == "succeeded"
    assert done["result"] == {"smoothed": [1.5, 2.5, 3.5, 4.5], "forecast": 4.5}
    assert done["attempts"] == 1 and done["model_version"] == "1"
    assert done["started_at"] >= done["created_at"] and done["finished_at"] >= done["started_at"]
    timeline = client.get(f"/api/v1/jobs/{job['id']}/events").json()["events"]
    assert [e["status"] for e in timeline] == ["queued", "running", "succeeded"]


def test_lstm_forecast_through_a_job_and_the_s2_alias(client: httpx.Client) -> None:
    series = [float(i % 12) for i in range(96)]
    accepted = client.post(
        "/api/v1/inference/submit",
        json={
            "model_name": "lstm_timeseries",
            "data": series,
            "metadata": {"pattern": "seasonal"},
            "parameters": {"horizon": 3},
        },
    )
    assert accepted.status_code == 202
    body = accepted.json()
    assert set(body) == {"job_id", "status"} and body["status"] == "queued"
    wait_for_job(client, body["job_id"])
    result = client.get(f"/api/v1/inference/{body['job_id']}").json()
    assert result["status"] == "succeeded" and result["model_name"] == "lstm-forecast"
    assert len(result["result"]["forecast"]) == 3


def test_idempotency_key_in_body_or_header_returns_the_same_job(client: httpx.Client) -> None:
    first = submit(client, idempotency_key="order-42")
    again = submit(client, idempotency_key="order-42")
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    by_header = client.post(
        "/api/v1/jobs",
        json={"model": "moving-average", "input": SERIES},
        headers={"Idempotency-Key": "order-43"},
    )
    replay = client.post(
        "/api/v1/jobs",
        json={"model": "moving-average", "input": SERIES},
        headers={"Idempotency-Key": "order-43"},
    )
    assert replay.json()["id"] == by_header.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"series": [1, "x"], "window": 1}, "input.series.1"),
        ({"series": [1.0, float("nan")]}, "input.series.1"),
        ({"series": [1.0, float("inf")]}, "input.series.1"),
        ({"series": []}, "input.series"),
        ({"series": [1.0, 2.0], "window": 3}, "input"),
        ({"series": [1.0, 2.0], "window": 0}, "input.window"),
        ({"series": [1.0], "extra": 1}, "input.extra"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: httpx.Client, body: dict[str, object], field: str
) -> None:
    before = client.get("/api/v1/jobs", params={"limit": 500}).json()["jobs"]
    raw = json.dumps({"model": "moving-average", "input": body})  # NaN/Infinity as JSON literals
    response = client.post(
        "/api/v1/jobs", content=raw, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "invalid_input", field)
    assert client.get("/api/v1/jobs", params={"limit": 500}).json()["jobs"] == before


def test_window_larger_than_series_says_so(client: httpx.Client) -> None:
    response = submit(client, input={"series": [1.0, 2.0], "window": 3})
    assert "window (3) is larger than the series (2 values)" in response.json()["error"]["message"]


def test_too_large_horizon_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/jobs",
        json={"model": "lstm-forecast", "input": {"series": [1.0, 2.0, 3.0], "horizon": 10_000}},
    )
    assert_error(response, 422, "invalid_input", "input.horizon")


def test_envelope_errors(client: httpx.Client) -> None:
    assert_error(client.post("/api/v1/jobs", json={"model": "nope", "input": {}}), 404, "not_found")
    assert_error(client.post("/api/v1/jobs", json={"input": SERIES}), 422, "invalid_input", "model")
    assert_error(submit(client, priority="high"), 422, "invalid_input", "priority")
    assert_error(submit(client, deadline="2001-01-01T00:00:00Z"), 422, "invalid_input", "deadline")
    assert_error(submit(client, max_attempts=0), 422, "invalid_input", "max_attempts")
    bad_json = client.post(
        "/api/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    assert_error(client.get("/api/v1/jobs/does-not-exist"), 404, "not_found")
    assert_error(
        client.get("/api/v1/jobs", params={"status": "sleeping"}), 422, "invalid_input", "status"
    )


def test_body_over_the_limit_is_413_before_it_is_read(client: httpx.Client) -> None:
    huge = {"model": "moving-average", "input": {"series": [1.0] * 20_000}}
    response = client.post("/api/v1/jobs", json=huge)
    assert_error(response, 413, "payload_too_large")
    assert response.json()["error"]["details"] == {"limit_bytes": 65536}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds
        yield json.dumps(huge).encode()

    streamed = client.post(
        "/api/v1/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(streamed, 413, "payload_too_large")


def test_list_pages_newest_first_with_a_cursor(client: httpx.Client) -> None:
    ids = [submit(client, metadata={"page": True}).json()["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3, "model": "moving_average"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/jobs", params=params).json()
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    newest_first = [i for i in seen if i in ids]
    assert newest_first == list(reversed(ids))
    assert len(seen) == len(set(seen))


def test_sync_inference_single_and_many(client: httpx.Client) -> None:
    one = client.post("/api/v1/models/moving-average/infer", json={"input": SERIES})
    assert one.json() == {
        "model": "moving-average",
        "model_version": "1",
        "output": {"smoothed": [1.5, 2.5, 3.5, 4.5], "forecast": 4.5},
    }
    many = client.post(
        "/api/v1/models/test-probe/infer", json={"inputs": [{"value": i} for i in range(5)]}
    ).json()
    assert [o["doubled"] for o in many["outputs"]] == [0, 2, 4, 6, 8]
    assert max(o["batch_size"] for o in many["outputs"]) > 1  # they met in one batch
    assert_error(
        client.post(
            "/api/v1/models/test-probe/infer", json={"inputs": [{"value": 1}, {"value": "x"}]}
        ),
        422,
        "invalid_input",
        "inputs.1.value",
    )
    assert_error(client.post("/api/v1/models/test-probe/infer", json={}), 422, "invalid_input")
    assert_error(client.post("/api/v1/models/nope/infer", json={"input": {}}), 404, "not_found")


def test_a_failing_item_fails_alone_in_sync_inference(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/models/test-probe/infer",
        json={"inputs": [{"value": 1}, {"value": 2, "fail": True}]},
    )
    assert_error(response, 500, "model_error")
    assert "asked to fail" in response.json()["error"]["message"]
    alone = client.post("/api/v1/models/test-probe/infer", json={"input": {"value": 3}})
    assert alone.json()["output"]["doubled"] == 6


def test_models_describe_schemas_and_batching(client: httpx.Client) -> None:
    names = {m["name"] for m in client.get("/api/v1/models").json()["models"]}
    assert names == {"moving-average", "lstm-forecast", "test-probe"}
    probe = client.get("/api/v1/models/test-probe").json()
    assert probe["version"] == "7" and probe["loaded"] is True
    assert probe["batching"]["max_batch_size"] == 8 and probe["batching"]["max_wait_ms"] == 20
    assert probe["batching"]["instances"] == 1
    assert probe["input_schema"]["properties"]["value"]["type"] == "number"
    assert "doubled" in probe["output_schema"]["properties"]
    assert client.get("/api/v1/models/lstm_timeseries").json()["name"] == "lstm-forecast"


def test_operations_routes(client: httpx.Client) -> None:
    assert client.get("/livez").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["components"]["database"]["ok"] is True
    assert health["components"]["models"]["lstm-forecast"]["loaded"] is True
    response = client.get("/metrics", headers={"X-Request-ID": "trace-me-1"})
    assert response.headers["x-request-id"] == "trace-me-1"
    text = response.text
    for name in (
        "inferline_jobs_total",
        "inferline_job_latency_seconds_bucket",
        "inferline_batch_size_bucket",
        "inferline_queue_depth",
    ):
        assert name in text


def test_event_stream_sends_each_state_change(client: httpx.Client, server: ServerProcess) -> None:
    url = server.url.replace("http://", "ws://") + "/api/v1/events?model=test-probe"
    with connect(url, open_timeout=10) as ws:
        job = client.post(
            "/api/v1/jobs", json={"model": "test-probe", "input": {"value": 4}}
        ).json()
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["type"] != "job.succeeded":
            event = json.loads(ws.recv(timeout=20))
            if event["job"]["id"] == job["id"]:
                seen.append(event)
    assert [e["type"] for e in seen] == ["job.queued", "job.running", "job.succeeded"]
    assert seen[-1]["job"]["result"] == {"doubled": 8.0, "batch_size": 1}
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)
