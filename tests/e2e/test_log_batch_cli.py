"""`inferline logs quality` and `inferline logs aggregate` on a temporary SQLite database
(as Airflow's DAGs call them), and the reports they store read back over the API."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.store import SqlLogStore
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.testing.server import ServerProcess, http_server, server_env
from tests.support.logs import archive_lines, log_line

DAY = datetime(2026, 12, 2, tzinfo=UTC).timestamp()


async def seed(db_url: str) -> None:
    store = SqlLogStore(db_url, create_engines, upgrade_to_head)
    await store.start()
    try:
        clean = [(log_line(DAY + 3600 + i, trace_id="t"), "tpl-a") for i in range(20)]
        await store.append("default", archive_lines(clean), received_at=DAY + 3700)
        await store.append("acme", archive_lines(clean[:5]), received_at=DAY + 3700)
        noisy = [(log_line(DAY + 7200, service="bad name", level="ERROR"), None)] * 3
        await store.append("acme", archive_lines(noisy), received_at=DAY + 7300)
    finally:
        await store.close()


def logs_cli(db_url: str, *args: str) -> tuple[int, Any, str]:
    run = subprocess.run(
        [sys.executable, "-m", "inferline.cli", "logs", *args],
        env=server_env(db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    body = json.loads(run.stdout) if run.stdout.strip() else None
    return run.returncode, body, run.stderr


@pytest.mark.timeout(600)  # each command imports the whole server (seconds on a busy machine)
def test_the_batch_commands_report_as_json_and_fail_on_a_failed_check(
    db_url: str, tmp_path: Path
) -> None:
    asyncio.run(seed(db_url))

    code, reports, _ = logs_cli(db_url, "quality", "--date", "2026-12-02", "--tenant", "default")
    assert code == 0
    [report] = reports
    assert (report["tenant"], report["records_checked"], report["passed"]) == ("default", 20, True)

    code, reports, _ = logs_cli(db_url, "quality", "--date", "2026-12-02")
    assert code == 1  # acme's lines break the service domain and repeat each other
    by_tenant = {r["tenant"]: r for r in reports}
    assert set(by_tenant) == {"acme", "default"}
    failed = {c["name"] for c in by_tenant["acme"]["checks"] if not c["passed"]}
    assert failed == {"service_domain", "duplicate_rate"}

    code, aggregates, _ = logs_cli(db_url, "aggregate", "--hour", "2026-12-02T01")
    assert code == 0
    totals = {a["tenant"]: a["records"] for a in aggregates}
    assert totals == {"acme": 5, "default": 20}
    code, again, _ = logs_cli(db_url, "aggregate", "--hour", "2026-12-02T01", "--tenant", "acme")
    assert code == 0 and again[0]["counts"] == aggregates[0]["counts"]

    code, _, stderr = logs_cli(db_url, "quality", "--date", "02/12/2026")
    assert code == 2 and "expected YYYY-MM-DD" in stderr
    code, _, stderr = logs_cli(db_url, "aggregate", "--hour", "2026-12-02")
    assert code == 2 and "expected YYYY-MM-DDTHH" in stderr

    server: ServerProcess = http_server(
        "api", db_url, tmp_path / "api.log", models="moving-average", logs_schedule="off"
    )
    server.start().wait_ready(timeout=300)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            day = client.get("/api/v1/logs/reports/quality", params={"date": "2026-12-02"})
            assert day.status_code == 200 and day.json()["records_checked"] == 20
            assert client.get("/api/v1/logs/reports/quality").json()["date"] == "2026-12-02"
            missing = client.get("/api/v1/logs/reports/quality", params={"date": "2026-12-01"})
            assert missing.status_code == 404
            bad = client.get("/api/v1/logs/reports/quality", params={"date": "yesterday"})
            assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
            hour = client.get("/api/v1/logs/reports/aggregates", params={"hour": "2026-12-02T01"})
            assert hour.status_code == 200
            assert [c["count"] for c in hour.json()["counts"]] == [20]
            ranged = client.get(
                "/api/v1/logs/reports/aggregates",
                params={"since": "2026-12-02T00:00Z", "until": "2026-12-02T06:00Z"},
            )
            assert ranged.json()["counts"] == hour.json()["counts"]
            backwards = client.get(
                "/api/v1/logs/reports/aggregates",
                params={"since": "2026-12-02T06:00Z", "until": "2026-12-02T00:00Z"},
            )
            assert backwards.status_code == 422
    finally:
        server.stop()
