"""The dashboard in a real headless Chromium: submit from the form, watch jobs live,
read a job's detail page, cancel a queued job. Screenshots of each view go to
test-artifacts/; with INFERLINE_UPDATE_SCREENSHOTS=1 they also replace docs/screenshots/
(a test run otherwise writes nothing into the repository)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.testing.server import ServerProcess, wait_for_live_workers
from tests.support.browser import dashboard_page, screenshot

# For actions and assertions alike: the page's WebSocket retries at most every 12.5 s
# (10 s backoff + jitter) after the server was away, and a loaded machine is slow.
TIMEOUT_MS = 20_000


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with dashboard_page(browser, height=1000, timeout_ms=TIMEOUT_MS) as page:
        yield page


def _submit_from_form(page: Any, expect: Any, series: str, window: str) -> str:
    """Fill the form built from the model's input schema; returns the new job's id."""
    page.get_by_test_id("nav-submit").click()
    expect(page.get_by_test_id("schema-form")).to_be_visible()
    page.locator("#field-series").fill(series)
    page.locator("#field-window").fill(window)
    page.get_by_test_id("submit-job").click()
    page.wait_for_url(re.compile(r"#/jobs/[0-9a-f-]{36}$"))
    return str(page.url.rsplit("/", 1)[1])


def test_dashboard_end_to_end(
    api_only: ServerProcess,
    worker_factory: Callable[[], ServerProcess],
    artifacts_dir: Path,
    page: Any,  # last: the browser closes before the servers stop
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{api_only.url}/")
    expect(page.get_by_test_id("connection")).to_have_text("live")
    expect(page.get_by_test_id("stat-total")).to_have_text("0")

    # No worker runs yet: a job submitted from the form stays queued; cancel it.
    doomed = _submit_from_form(page, expect, "1, 2, 3", "2")
    expect(page.get_by_test_id("job-status")).to_have_text("queued")
    page.get_by_test_id("cancel-job").click()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled")
    expect(page.get_by_test_id("job-timeline")).to_contain_text("cancelled")
    expect(page.get_by_test_id("retry-job")).to_be_enabled()

    # A validation error from the form names the field.
    page.get_by_test_id("nav-submit").click()
    page.locator("#field-series").fill("1, x")
    page.get_by_test_id("submit-job").click()
    expect(page.get_by_test_id("problem-series")).to_contain_text("numbers")

    # Submit another, watch it in the live table; it finishes once a worker starts.
    job_id = _submit_from_form(page, expect, "1, 2, 3, 4, 5", "2")
    page.get_by_test_id("nav-jobs").click()
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row).to_contain_text("queued")
    expect(page.locator(f'tr[data-job-id="{doomed}"]')).to_contain_text("cancelled")
    worker_factory()
    with httpx.Client(base_url=api_only.url) as client:
        wait_for_live_workers(client)  # a worker process may start slower than TIMEOUT_MS
    expect(row).to_contain_text("succeeded")  # pushed over WS /api/v1/events, no reload
    screenshot(page, artifacts_dir, "jobs")
    page.get_by_test_id("filter-status").select_option("cancelled")
    expect(page.locator(f'tr[data-job-id="{job_id}"]')).to_have_count(0)
    expect(page.locator(f'tr[data-job-id="{doomed}"]')).to_have_count(1)
    page.get_by_test_id("filter-status").select_option("")

    # The detail page: input, result, attempts and the timeline of state changes.
    row.get_by_role("link").click()
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded")
    expect(page.get_by_test_id("job-result")).to_contain_text('"forecast": 4.5')
    expect(page.get_by_test_id("job-input")).to_contain_text('"window": 2')
    expect(page.get_by_test_id("job-attempts")).to_have_text("1 / 3")
    timeline = page.get_by_test_id("job-timeline")
    for status in ("queued", "running", "succeeded"):
        expect(timeline).to_contain_text(status)
    screenshot(page, artifacts_dir, "job-detail")

    # More traffic, then the overview's figures update live.
    with httpx.Client(base_url=api_only.url) as client:
        jobs = [
            {"model": "moving-average", "input": {"series": [i, i + 1, i + 2]}} for i in range(30)
        ]
        assert client.post("/api/v1/jobs/batch", json={"jobs": jobs}).status_code == 202
    page.get_by_test_id("nav-overview").click()
    expect(page.get_by_test_id("stat-completed")).to_have_text("31")
    expect(page.get_by_test_id("stat-total")).to_have_text("32")
    expect(page.get_by_test_id("stat-success-rate")).to_have_text("100.0 %")
    expect(page.get_by_test_id("stat-p95")).to_have_text(re.compile(r"\d.* (ms|s)$"))
    screenshot(page, artifacts_dir, "overview")

    page.get_by_test_id("nav-models").click()
    model_row = page.locator('tr[data-model="moving-average"]')
    expect(model_row).to_contain_text("loaded")
    expect(model_row).to_contain_text("256 items / 2 ms, 1 at once")
    screenshot(page, artifacts_dir, "models")

    page.get_by_test_id("nav-submit").click()
    expect(page.get_by_test_id("schema-form")).to_be_visible()
    screenshot(page, artifacts_dir, "submit")

    # The page reconnects by itself when the server comes back.
    api_only.stop()
    expect(page.get_by_test_id("connection")).to_have_text("reconnecting…")
    api_only.start().wait_ready()
    expect(page.get_by_test_id("connection")).to_have_text("live")
