"""The dashboard's Logs view in a real headless Chromium: the incidents, templates and
dead letters of log lines sent to `inferline serve`, one incident read and resolved from
the page; the latest data-quality report (each check, failed ones marked) and the day's
hourly counts, from what the batch jobs stored; another day is chosen from the form."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.store import SqlLogStore
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.apps.logs.batch import LogBatch
from inferline.apps.logs.batch_settings import LogBatchSettings
from inferline.apps.logs.records import LogRecord
from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import ServerProcess, http_server
from tests.support.browser import dashboard_page, screenshot
from tests.support.logs import archive_lines, log_line

TIMEOUT_MS = 30_000
DAY = datetime(2026, 12, 2, tzinfo=UTC).timestamp()


async def run_batch_jobs(db_url: str) -> None:
    """Two days of lines, the second with a badly named service; both days checked and
    the second day's hours counted, as the scheduler would."""
    store = SqlLogStore(db_url, create_engines, upgrade_to_head)
    batch = LogBatch(store, store, LogBatchSettings())
    await batch.start()
    try:
        earlier = [(log_line(DAY - 86_400 + 60 + i), "tpl-a") for i in range(3)]
        await store.append("default", archive_lines(earlier), received_at=DAY - 86_400 + 100)
        lines: list[tuple[LogRecord, str | None]] = [
            (log_line(DAY + 3600 + i), "tpl-a") for i in range(12)
        ]
        lines += [
            (log_line(DAY + 7200 + i, level="ERROR", message=f"boom {i}"), "tpl-b")
            for i in range(4)
        ]
        lines += [(log_line(DAY + 7300, service="bad name"), None)]
        await store.append("default", archive_lines(lines), received_at=DAY + 7400)
        await batch.check_day(date(2026, 12, 1))
        await batch.check_day(date(2026, 12, 2))
        for hour in (1, 2):
            await batch.aggregate_hour(DAY + hour * 3600)
    finally:
        await batch.close()


@pytest.fixture
def logs_server(tmp_path: Path, db_url: str) -> Iterator[ServerProcess]:
    asyncio.run(run_batch_jobs(db_url))
    server = http_server(
        "api", db_url, tmp_path / "server.log", models="moving-average", logs_schedule="off"
    )
    server.start().wait_ready(timeout=300)
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with dashboard_page(browser, height=1200, timeout_ms=TIMEOUT_MS) as page:
        yield page


@pytest.mark.timeout(600)  # a server and Chromium start: minutes on a busy machine
def test_the_logs_view_shows_the_latest_quality_report_and_hourly_counts(
    logs_server: ServerProcess, artifacts_dir: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{logs_server.url}/#/logs")
    expect(page.get_by_test_id("logs-report-date")).to_contain_text("2026-12-02")
    expect(page.get_by_test_id("logs-records")).to_contain_text("17")
    expect(page.get_by_test_id("logs-passed")).to_contain_text("failed")
    service = page.locator('[data-testid="logs-checks"] tr[data-check="service_domain"]')
    expect(service).to_contain_text("failed")
    expect(service).to_contain_text("bad name")
    expect(page.locator('tr[data-check="level_domain"]')).to_contain_text("passed")
    expect(page.locator('[data-testid="logs-hours"] tr[data-hour="01:00"]')).to_contain_text("12")
    expect(page.locator('[data-testid="logs-hours"] tr[data-hour="02:00"]')).to_contain_text("5")
    errors = page.locator('[data-testid="logs-counts"] tr[data-level="ERROR"]')
    expect(errors).to_contain_text("tpl-b")
    screenshot(page, artifacts_dir, "logs")

    # the day before: its report passed, and no hour of it was counted
    page.get_by_test_id("logs-day").fill("2026-12-01")
    page.get_by_test_id("logs-show").click()
    expect(page.get_by_test_id("logs-report-date")).to_contain_text("2026-12-01")
    expect(page.get_by_test_id("logs-passed")).to_contain_text("passed")
    expect(page.get_by_test_id("logs-no-counts")).to_be_visible()

    # a day never checked says how to check it
    page.get_by_test_id("logs-day").fill("2026-11-20")
    page.get_by_test_id("logs-show").click()
    expect(page.get_by_test_id("logs-no-report")).to_contain_text("inferline logs quality")


def burst_of_errors() -> list[Any]:
    """30 checkout errors of one template, 12 search errors of another, 50 logins, and two
    records that fail validation."""
    lines = [
        {"service": "checkout", "level": "error", "message": f"payment gateway timeout for {i}"}
        for i in range(30)
    ]
    lines += [
        {"service": "search", "level": "error", "message": f"index shard {i % 4} unavailable"}
        for i in range(12)
    ]
    lines += [
        {"service": "auth", "level": "info", "message": f"user {i} logged in"} for i in range(50)
    ]
    return [*lines, {"message": "a line with no service"}, ["not", "a", "map"]]


def analysed_incidents(client: httpx.Client) -> list[dict[str, Any]]:
    """The incidents, once each has its analysis (or the reason why none ran)."""
    found: list[dict[str, Any]] = json_answer(client.get("/api/v1/logs/incidents"))["incidents"]
    return found if all(i["analysis"] is not None for i in found) else []


@pytest.mark.timeout(600)
def test_the_logs_view_lists_incidents_and_resolves_one(
    tmp_path: Path, db_url: str, artifacts_dir: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    server = http_server(
        "serve",
        db_url,
        tmp_path / "server.log",
        models="moving-average",
        logs_schedule="off",
        logs_batch_timeout_seconds="0.1",
        vector_path=str(tmp_path / "vectors"),
    )
    server.start().wait_ready(timeout=300)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answer = client.post("/api/v1/logs", json=burst_of_errors())
            assert answer.json() == {"accepted": 92, "dead_lettered": 2}, answer.text
            incidents = poll_until(
                lambda: analysed_incidents(client),
                "two analysed incidents",
                timeout=120,
                accept=lambda found: len(found) == 2,
            )
            checkout = next(i for i in incidents if i["service"] == "checkout")

            page.goto(f"{server.url}/#/logs")
            rows = page.locator('[data-testid="incidents"] tbody tr')
            expect(rows).to_have_count(2)
            expect(rows.locator('xpath=self::*[@data-service="checkout"]')).to_contain_text("30")
            expect(rows.locator('xpath=self::*[@data-service="search"]')).to_contain_text("12")
            templates = page.get_by_test_id("templates")
            expect(templates).to_contain_text("payment gateway timeout for <NUM>")
            expect(templates.locator('tr[data-service="auth"]')).to_contain_text("50")
            expect(page.get_by_test_id("dead-letters-total")).to_have_text("2")
            letters = page.get_by_test_id("dead-letters")
            expect(letters.locator('tr[data-reason="not_a_map"]')).to_contain_text('["not", "a"')
            expect(letters.locator("tbody tr")).to_have_count(2)
            missing = letters.locator('tr[data-reason="missing"]')
            expect(missing).to_contain_text("a line with no service")
            expect(missing).to_contain_text("service: Input should be a valid string")

            # one incident: its samples, why no analysis ran (no LLM here), then resolved
            page.locator(f'tr[data-incident="{checkout["id"]}"]').click()
            expect(page.get_by_test_id("incident-samples")).to_contain_text(
                "payment gateway timeout for"
            )
            expect(page.get_by_test_id("incident-analysis-unavailable")).to_contain_text(
                "No analysis ran"
            )
            resolve = page.get_by_test_id("incident-resolve")
            expect(resolve).to_be_disabled()  # nothing typed yet
            page.get_by_test_id("incident-resolution-text").fill("Raised the gateway's timeout.")
            resolve.click()
            expect(page.get_by_test_id("incident-status")).to_have_text("resolved")
            expect(page.get_by_test_id("incident-resolution")).to_have_text(
                "Raised the gateway's timeout."
            )
            expect(rows).to_have_count(1)  # the open ones: search's
            screenshot(page, artifacts_dir, "logs-incidents")

            page.get_by_test_id("incidents-status").select_option("resolved")
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-service", "checkout")
            stored = json_answer(client.get(f"/api/v1/logs/incidents/{checkout['id']}"))
            assert (stored["status"], stored["resolution"]) == (
                "resolved",
                "Raised the gateway's timeout.",
            )
    finally:
        server.stop()
