"""The dashboard in headless Chromium against `inferline api` with keys required: its
files load, it asks for a key, refuses a wrong one, and with a good one shows the
tenant's jobs live (the WebSocket carries the key as `?api_key=`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.testing.server import ServerProcess, http_server, sqlite_url
from tests.support.auth import cli_key
from tests.support.browser import dashboard_page

TIMEOUT_MS = 20_000


@pytest.fixture
def secured_api(tmp_path: Path) -> Iterator[ServerProcess]:
    server = http_server("api", sqlite_url(tmp_path / "jobs.db"), tmp_path / "api.log")
    del server.env["INFERLINE_AUTH"]  # `inferline api`'s default: keys required
    server.env["INFERLINE_MODELS"] = "moving-average"
    server.start().wait_ready()
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with dashboard_page(browser, height=900, timeout_ms=TIMEOUT_MS) as page:
        yield page


def test_the_dashboard_asks_for_a_key_and_uses_it(
    secured_api: ServerProcess, artifacts_dir: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    key = cli_key(secured_api.env)
    job = httpx.post(
        f"{secured_api.url}/api/v1/jobs",
        json={"model": "moving-average", "input": {"series": [1, 2, 3]}},
        headers={"Authorization": f"Bearer {key}"},
    ).json()

    page.goto(f"{secured_api.url}/#/jobs")
    expect(page.get_by_test_id("key-form")).to_be_visible()
    page.get_by_test_id("api-key-input").fill("il_abcdefgh_" + "w" * 43)
    page.get_by_test_id("api-key-save").click()
    expect(page.get_by_test_id("api-key-error")).to_be_visible()

    page.get_by_test_id("api-key-input").fill(key)
    page.get_by_test_id("api-key-save").click()
    expect(page.get_by_test_id("key-form")).to_be_hidden()
    expect(page.get_by_test_id("connection")).to_have_text("live")
    expect(page.get_by_test_id("jobs-table")).to_contain_text(job["id"][:8])
    page.screenshot(path=str(artifacts_dir / "dashboard-api-key.png"), full_page=True)
    stored = page.evaluate("() => window.sessionStorage.getItem('inferline.apiKey')")
    assert stored == key
    assert key not in secured_api.log_tail(400)  # the WebSocket's ?api_key= is not logged
