"""Source S4's log ingest through the front door: `inferline serve` with its Fluent
Forward server on a free port, fed by `fluent-logger` and by HTTP (Fluent Bit's `json`
and `json_lines` bodies, gzip); valid records read back from the stream `logs.raw` (the
database's embedded table, or Redis Streams) with the matching stream source, invalid
ones from `GET /api/v1/logs/dead-letters`; bodies refused with the line or the limit
named; the server stopping cleanly with the Forward server in it. Then tenants and
scopes with authentication on."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
from fluent import sender as fluent_sender

from inferline.adapters.redis.streams import RedisStreamSource
from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.stream import SqlLogStream
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.core.settings import Settings
from inferline.ports.streams import StreamSource
from inferline.testing import databases as dbs
from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import ServerProcess, free_port, http_server
from tests.support.auth import headers, secured_app
from tests.support.requirements import require_server
from tests.support.servers import metric_value

T0 = 1_764_000_000
TIMEOUT = 60.0


@pytest.fixture(params=["embedded", "redis"])
def stream_settings(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """`logs.raw` on the database's embedded table, or on Redis Streams."""
    if request.param == "embedded":
        yield {}
        return
    require_server(dbs.REDIS)
    prefix = dbs.unique_name("inferline-test")
    yield {"streams_url": dbs.redis_url(), "redis_prefix": prefix}
    asyncio.run(dbs.delete_redis_prefix(prefix))


@pytest.fixture
def server(tmp_path: Path, db_url: str, stream_settings: dict[str, str]) -> Iterator[ServerProcess]:
    process = http_server(
        "serve",
        db_url,
        tmp_path / "server.log",
        "--workers-in-process",
        "0",
        models="moving-average",
        logs_forward_port=str(free_port()),
        logs_forward_host="127.0.0.1",
        logs_max_body_bytes="4096",
        **stream_settings,
    )
    process.start().wait_ready()
    yield process
    process.stop()


def forward_port(server: ServerProcess) -> int:
    return int(server.env["INFERLINE_LOGS_FORWARD_PORT"])


def stream_source(db_url: str, settings: dict[str, str]) -> StreamSource:
    if "streams_url" in settings:
        return RedisStreamSource(
            settings["streams_url"], settings["redis_prefix"], "logs.raw", "test", name="t"
        )
    return SqlLogStream(LogsDatabase(db_url, create_engines, upgrade_to_head), "logs.raw")


async def read_stream(source: StreamSource, count: int) -> list[dict[str, Any]]:
    """`count` records of `logs.raw`, keyed by service."""
    await source.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            for record in await source.read(count, 0.5):
                value = json.loads(record.value)
                assert record.key == value["service"]
                found.append(value)
    finally:
        await source.close()
    return found


def dead_letters(client: httpx.Client, count: int) -> dict[str, Any]:
    page: dict[str, Any] = poll_until(
        lambda: json_answer(client.get("/api/v1/logs/dead-letters", params={"limit": 100})),
        f"{count} dead letters",
        timeout=TIMEOUT,
        accept=lambda page: page["total"] >= count,
    )
    return page


def test_fluent_logger_and_http_records_reach_the_stream_and_bad_ones_the_dead_letters(
    server: ServerProcess, db_url: str, stream_settings: dict[str, str]
) -> None:
    logger = fluent_sender.FluentSender(
        "k8s", host="127.0.0.1", port=forward_port(server), nanosecond_precision=True
    )
    assert logger.emit_with_time(
        "pod", T0, {"log": "GET /health 200", "level": "info", "service": "web"}
    ), logger.last_error
    assert logger.emit("pod", {"log": "no service field", "level": "warn"})
    logger.close()
    client = httpx.Client(base_url=server.url, timeout=30)
    dead_letters(client, 1)  # the Forward one first: the letters' order is known

    as_json = [
        {"date": T0 + 1.5, "message": "db timeout", "level": "ERROR", "service": "api"},
        {"date": T0 + 2, "message": "retry ok", "severity": "info", "app": "api"},
        {"date": T0 + 3, "message": "no level", "service": "api"},
    ]
    answer = client.post("/api/v1/logs", json=as_json)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 2, "dead_lettered": 1}
    lines = "\n".join(
        json.dumps(r)
        for r in (
            {"message": "from json_lines", "level": "debug", "service": "worker"},
            ["not", "a", "map"],
        )
    )
    answer = client.post(
        "/api/v1/logs",
        content=gzip.compress(lines.encode()),
        headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    )
    assert answer.json() == {"accepted": 1, "dead_lettered": 1}, answer.text

    records = asyncio.run(read_stream(stream_source(db_url, stream_settings), 4))
    by_message = {r["message"]: r for r in records}
    assert set(by_message) == {"GET /health 200", "db timeout", "retry ok", "from json_lines"}
    assert by_message["GET /health 200"]["tag"] == "k8s.pod"
    assert by_message["GET /health 200"]["timestamp"] == "2025-11-24T16:00:00Z"
    assert by_message["db timeout"]["timestamp"] == "2025-11-24T16:00:01.500000Z"
    assert by_message["db timeout"]["level"] == "ERROR"
    assert "date" not in by_message["retry ok"]["attributes"]

    page = dead_letters(client, 3)
    letters = page["dead_letters"]
    assert page["total"] == 3 and page["next_cursor"] is None
    assert [(x["source"], x["reason_class"]) for x in letters] == [
        ("http", "not_a_map"),
        ("http", "missing"),
        ("forward", "missing"),
    ]
    assert json.loads(base64.b64decode(letters[1]["raw"]))["message"] == "no level"
    assert "level" in letters[1]["reason"]
    forwarded = msgpack.unpackb(base64.b64decode(letters[2]["raw"]))
    assert forwarded == {"log": "no service field", "level": "warn"}
    assert letters[2]["tag"] == "k8s.pod"

    metrics = client.get("/metrics").text
    assert metric_value(metrics, "inferline_logs_records_accepted_total", source="http") == 3
    assert metric_value(metrics, "inferline_logs_records_accepted_total", source="forward") == 1
    dead = "inferline_logs_records_dead_lettered_total"
    assert metric_value(metrics, dead, source="http", reason="missing") == 1
    assert metric_value(metrics, dead, source="forward", reason="missing") == 1
    client.close()
    assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "Application shutdown complete" in server.log_tail(200)
    with pytest.raises(ConnectionRefusedError):  # the Forward server stopped with it
        socket.create_connection(("127.0.0.1", forward_port(server)), timeout=5).close()
    assert '"level": "error"' not in server.log_path.read_text()


@pytest.mark.parametrize("stream_settings", ["embedded"], indirect=True)
def test_bodies_that_cannot_be_read_are_refused_naming_the_line_or_the_limit(
    server: ServerProcess, request: pytest.FixtureRequest
) -> None:
    client = httpx.Client(base_url=server.url, timeout=30)
    request.addfinalizer(client.close)
    ndjson = {"Content-Type": "application/x-ndjson"}
    broken = '{"message": "a", "service": "s", "level": "info"}\n{"message": \n'
    answer = client.post("/api/v1/logs", content=broken, headers=ndjson)
    assert answer.status_code == 422
    assert "line 2" in answer.json()["error"]["message"]
    answer = client.post(
        "/api/v1/logs",
        content="[{}]\n[{}]",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and "line 2" in answer.json()["error"]["message"]
    answer = client.post("/api/v1/logs", content="x" * 5000, headers=ndjson)
    assert answer.status_code == 413 and "4096" in answer.json()["error"]["message"]
    answer = client.post(
        "/api/v1/logs",
        content=gzip.compress(b"[" + b"{}," * 3000 + b"{}]"),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 413, answer.text
    answer = client.post("/api/v1/logs", content="{}", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 422 and "Content-Type" in answer.json()["error"]["message"]
    answer = client.get("/api/v1/logs/dead-letters", params={"cursor": "nope"})
    assert answer.status_code == 422
    assert json_answer(client.get("/api/v1/logs/dead-letters"))["total"] == 0


def test_records_belong_to_the_callers_tenant_and_need_the_submit_scope(db_url: str) -> None:
    with secured_app(Settings(database_url=db_url)) as app:
        acme, other = app.key("acme"), app.key("other")
        reader = app.key("acme", "read")
        body = [{"message": "no service", "level": "info"}]
        answer = app.client.post("/api/v1/logs", json=body, headers=headers(acme))
        assert answer.status_code == 202 and answer.json()["dead_lettered"] == 1
        assert (
            app.client.post("/api/v1/logs", json=body, headers=headers(reader)).status_code == 403
        )
        assert app.client.post("/api/v1/logs", json=body).status_code == 401
        mine = app.client.get("/api/v1/logs/dead-letters", headers=headers(reader)).json()
        theirs = app.client.get("/api/v1/logs/dead-letters", headers=headers(other)).json()
        assert mine["total"] == 1 and theirs == {
            "dead_letters": [],
            "next_cursor": None,
            "total": 0,
        }
