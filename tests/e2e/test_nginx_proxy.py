"""The shipped nginx config in front of a real server, under the /inferline/ prefix:
the page, its assets, the API and both WebSockets work through the proxy."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from inferline.dashboard import is_built
from inferline.testing.server import ServerProcess, free_port
from tests.support.events import job_events_until_succeeded
from tests.support.nginx import nginx_config, running_nginx, shipped_site

PREFIX = "/inferline/"


@pytest.fixture
def proxy(tmp_path: Path, nginx_bin: str, serve: ServerProcess) -> Iterator[str]:
    """nginx in the foreground in front of `serve`; yields the prefixed base URL."""
    port = free_port()
    site = shipped_site(
        "inferline.conf",
        {
            "listen 80;": f"listen 127.0.0.1:{port};",
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{serve.port};",
        },
    )
    base = f"http://127.0.0.1:{port}{PREFIX}"
    with running_nginx(nginx_bin, nginx_config(tmp_path, site), f"{base}readyz"):
        yield base


def test_page_and_assets_through_the_prefix(proxy: str) -> None:
    page = httpx.get(proxy)
    assert page.status_code == 200
    if not is_built():
        assert "make setup" in page.text
        return
    assets = re.findall(r'(?:src|href)="(\./assets/[^"]+)"', page.text)
    assert assets, page.text  # relative paths: they resolve under the prefix
    for asset in assets:
        assert httpx.get(proxy + asset[2:]).status_code == 200


def test_api_through_the_prefix_keeps_the_request_id(proxy: str) -> None:
    response = httpx.post(
        f"{proxy}api/v1/jobs",
        json={"model": "moving-average", "input": {"series": [1, 2, 3]}},
        headers={"X-Request-ID": "through-nginx-1"},
    )
    assert response.status_code == 202
    assert response.headers["x-request-id"] == "through-nginx-1"
    generated = httpx.get(f"{proxy}api/v1/models").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)  # nginx's $request_id


def _ws_url(proxy: str, path: str) -> str:
    return proxy.replace("http://", "ws://") + path


def test_websockets_through_the_prefix(proxy: str) -> None:
    with connect(_ws_url(proxy, "api/v1/dashboard/ws"), open_timeout=10) as dashboard:
        update = json.loads(dashboard.recv(timeout=10))
        assert update["type"] == "update"
        assert set(update["statistics"]) >= {"total_jobs", "completed", "failed", "success_rate"}
    with connect(_ws_url(proxy, "api/v1/events"), open_timeout=10) as events:
        job = httpx.post(
            f"{proxy}api/v1/jobs",
            json={"model": "moving-average", "input": {"series": [2, 4, 6]}},
        ).json()
        seen = job_events_until_succeeded(events, job["id"])
        assert seen[0] == "job.queued"


def test_dashboard_goes_live_through_the_prefix(proxy: str, browser: Any) -> None:
    """The front end derives its API and WebSocket URLs from its own location."""
    from playwright.sync_api import expect

    if not is_built():
        pytest.fail("the dashboard is not built: run `make setup`")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(proxy)
        expect(page.get_by_test_id("connection")).to_have_text("live", timeout=20_000)
        page.get_by_test_id("nav-models").click()
        expect(page.locator('tr[data-model="moving-average"]')).to_contain_text(
            "loaded", timeout=20_000
        )
    finally:
        context.close()
