"""Source S4's templates and incidents through the front door: log records produced to
the embedded `logs.raw` stream are mined and grouped by `inferline serve`, and read back
over the HTTP API (filters, cursors, tenants, resolving); a SIGKILL mid-stream leaves
every line counted exactly once after the restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.incidents import SqlLogsStore
from inferline.adapters.sql.logs.stream import SqlLogStream
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.apps.logs.records import Level, LogRecord
from inferline.ports.logs import IncidentFilter
from inferline.ports.streams import OutRecord
from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import ServerProcess, http_server
from tests.support.servers import metric_value

T0 = 1_764_000_000.0
TOPIC = "logs.raw"
TIMEOUT = 90.0
FAST = {"models": "moving-average", "logs_batch_timeout_seconds": "0.1"}


def line(i: int, tenant: str = "default") -> LogRecord:
    """Every 10th line an error of `checkout` (a burst at the start, then 20 quiet
    minutes, then another); the rest logins of `auth`."""
    at = T0 + i if i < 500 else T0 + 1200 + i
    if i % 10 == 0:
        return LogRecord(
            timestamp=datetime.fromtimestamp(at, UTC),
            tenant=tenant,
            service="checkout",
            level=Level.ERROR,
            message=f"payment gateway timeout after {i % 7 + 1}s for order {1000 + i}",
        )
    return LogRecord(
        timestamp=datetime.fromtimestamp(at, UTC),
        tenant=tenant,
        service="auth",
        level=Level.INFO,
        message=f"user {i} logged in from 10.0.{i % 200}.{i % 250}",
    )


async def produce(db_url: str, lines: list[LogRecord]) -> None:
    sink = SqlLogStream(LogsDatabase(db_url, create_engines, upgrade_to_head), TOPIC)
    await sink.start()
    try:
        for start in range(0, len(lines), 500):
            chunk = lines[start : start + 500]
            await sink.send(
                [OutRecord(TOPIC, r.service, r.model_dump_json().encode()) for r in chunk]
            )
    finally:
        await sink.close()


async def stored_incident_ids(db_url: str, tenant: str) -> list[str]:
    store = SqlLogsStore(db_url, create_engines, upgrade_to_head)
    await store.start()
    try:
        return [i.id for i in (await store.incidents(tenant, IncidentFilter(), 50, None))[0]]
    finally:
        await store.close()


def templates(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json_answer(client.get("/api/v1/logs/templates", params=params))[
        "templates"
    ]
    return found


def incidents(client: httpx.Client, **params: Any) -> dict[str, Any]:
    found: dict[str, Any] = json_answer(client.get("/api/v1/logs/incidents", params=params))
    return found


def counted(client: httpx.Client) -> int:
    return sum(t["count"] for t in templates(client))


def test_records_on_the_stream_become_templates_and_incidents_over_the_api(
    tmp_path: Path, db_url: str
) -> None:
    lines = [line(i) for i in range(1000)] + [line(i, "globex") for i in range(0, 50, 10)]
    asyncio.run(produce(db_url, lines))
    server = http_server("serve", db_url, tmp_path / "server.log", **FAST)
    server.start().wait_ready()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            poll_until(
                lambda: counted(client),
                "every line mined",
                timeout=TIMEOUT,
                accept=lambda n: n == 1000,
                interval=0.2,
            )
            found = templates(client)
            assert [(t["service"], t["template"], t["count"]) for t in found] == [
                ("auth", "user <NUM> logged in from <IP>", 900),
                ("checkout", "payment gateway timeout after <DURATION> for order <NUM>", 100),
            ]
            assert [t["service"] for t in templates(client, service="checkout")] == ["checkout"]

            page = incidents(client)
            assert page["next_cursor"] is None
            newest, oldest = page["incidents"]
            assert (oldest["count"], newest["count"]) == (50, 50)  # the quiet gap split them
            assert oldest["first_seen"] == datetime.fromtimestamp(T0, UTC).isoformat()
            assert newest["template"] == found[1]["template"]
            assert newest["template_id"] == found[1]["template_id"]
            assert (newest["status"], newest["level"]) == ("open", "ERROR")
            # no LLM here: the incident says that no analysis ran (once the queued one did)
            analysed = poll_until(
                lambda: json_answer(client.get(f"/api/v1/logs/incidents/{newest['id']}")),
                "the incident's analysis",
                timeout=TIMEOUT,
                accept=lambda incident: incident["analysis"] is not None,
            )["analysis"]
            assert analysed["analysed"] is False and analysed["root_cause"] is None
            assert "no LLM" in analysed["unavailable"] and analysed["similar"] == []
            assert len(newest["samples"]) == 5
            assert newest["samples"][0]["message"].startswith("payment gateway timeout")
            [duration, order] = newest["parameters"]
            assert duration["mask"] == "DURATION" and len(duration["values"]) == 7
            assert order["mask"] == "NUM" and len(order["values"]) == 10

            first = incidents(client, limit=1)
            assert [i["id"] for i in first["incidents"]] == [newest["id"]]
            second = incidents(client, limit=1, cursor=first["next_cursor"])
            assert [i["id"] for i in second["incidents"]] == [oldest["id"]]
            assert second["next_cursor"] is None
            until = datetime.fromtimestamp(T0 + 600, UTC).isoformat()
            assert [i["id"] for i in incidents(client, until=until)["incidents"]] == [oldest["id"]]
            assert incidents(client, service="auth")["incidents"] == []
            bad = client.get("/api/v1/logs/incidents", params={"cursor": "nope"})
            assert bad.status_code == 422 and "cursor" in bad.text
            assert client.get("/api/v1/logs/incidents", params={"status": "x"}).status_code == 422

            one = json_answer(client.get(f"/api/v1/logs/incidents/{oldest['id']}"))
            # its analysis (queued, no LLM) may have been stored since the list was read
            assert {**one, "analysis": None} == {**oldest, "analysis": None}
            # globex's lines come after the default tenant's on the stream: wait for them
            [other_tenants] = poll_until(
                lambda: asyncio.run(stored_incident_ids(db_url, "globex")),
                "globex's incident stored",
                timeout=TIMEOUT,
                accept=lambda ids: len(ids) == 1,
                interval=0.2,
            )
            assert client.get(f"/api/v1/logs/incidents/{other_tenants}").status_code == 404

            url = f"/api/v1/logs/incidents/{oldest['id']}/resolve"
            assert client.post(url, json={"resolution": ""}).status_code == 422
            assert client.post(url, json={"resolution": "x" * 4001}).status_code == 422
            missing = "/api/v1/logs/incidents/00000000-0000-4000-8000-000000000000/resolve"
            assert client.post(missing, json={"resolution": "restarted"}).status_code == 404
            resolved = json_answer(client.post(url, json={"resolution": "raised the timeout"}))
            assert (resolved["status"], resolved["resolution"]) == (
                "resolved",
                "raised the timeout",
            )
            assert [i["id"] for i in incidents(client, status="resolved")["incidents"]] == [
                oldest["id"]
            ]

            # counted once the batch is stored: globex's may have been stored just now
            metrics = poll_until(
                lambda: client.get("/metrics").text,
                "every line counted",
                timeout=TIMEOUT,
                accept=lambda text: (
                    metric_value(text, "inferline_logs_lines_processed_total", outcome="mined")
                    == 1005
                ),
                interval=0.2,
            )
            opened = metric_value(metrics, "inferline_logs_incidents_opened_total", level="ERROR")
            assert opened == 3
            assert metric_value(metrics, "inferline_logs_templates") == 3  # globex has its own
    finally:
        server.stop()


@pytest.mark.timeout(300)  # two server starts
def test_a_kill_mid_stream_leaves_every_line_counted_once(tmp_path: Path, db_url: str) -> None:
    total = 4000
    asyncio.run(produce(db_url, [line(i) for i in range(total)]))
    settings = {**FAST, "logs_batch_size": "100"}
    log_path = tmp_path / "server.log"
    server: ServerProcess = http_server("serve", db_url, log_path, **settings)
    server.start().wait_ready()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        before_kill = poll_until(
            lambda: counted(client),
            "some lines mined",
            timeout=TIMEOUT,
            accept=lambda n: n >= 100,
            interval=0.02,
        )
    server.kill()  # mid-stream: a batch stored but not committed comes back
    assert before_kill < total, "the consumer finished before the kill: nothing was tested"

    restarted = http_server("serve", db_url, log_path, **settings)
    restarted.start().wait_ready()
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            poll_until(
                lambda: counted(client),
                "every line mined",
                timeout=TIMEOUT,
                accept=lambda n: n >= total,
                interval=0.2,
            )
            poll_until(
                lambda: metric_value(
                    client.get("/metrics").text, "inferline_logs_processing_lag_records"
                ),
                "the stream lag measured at 0",
                timeout=TIMEOUT,
                accept=lambda lag: lag == 0,
                interval=0.2,
            )
            assert counted(client) == total
            errors = sum(i["count"] for i in incidents(client)["incidents"])
            assert errors == total // 10
    finally:
        restarted.stop()
