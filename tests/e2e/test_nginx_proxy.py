"""The shipped nginx config in front of a real server, under the /inferline/ prefix:
the page, its assets, the API and both WebSockets work through the proxy."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from inferline.dashboard import is_built
from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, free_port

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "inferline.conf"
PREFIX = "/inferline/"


def nginx_config(tmp_path: Path, listen_port: int, upstream_port: int) -> Path:
    """A complete nginx.conf around the shipped server block, on free ports and temp paths."""
    server = SHIPPED.read_text()
    server = server.replace("listen 80;", f"listen 127.0.0.1:{listen_port};")
    server = server.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    (tmp_path / "inferline.conf").write_text(server)
    temp = {name: tmp_path / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    config = tmp_path / "nginx.conf"
    config.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp_path / "nginx.pid"};
error_log {tmp_path / "error.log"} info;
{"user root;" if _is_root() else ""}
events {{ worker_connections 128; }}
http {{
    access_log {tmp_path / "access.log"};
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {tmp_path / "inferline.conf"};
}}
""")
    return config


def _is_root() -> bool:
    return os.geteuid() == 0


@pytest.fixture
def proxy(tmp_path: Path, nginx_bin: str, serve: ServerProcess) -> Iterator[str]:
    """nginx in the foreground in front of `serve`; yields the prefixed base URL."""
    port = free_port()
    config = nginx_config(tmp_path, port, serve.port or 0)
    command = [nginx_bin, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(config)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    with (tmp_path / "nginx.out").open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}{PREFIX}"

    def readyz() -> httpx.Response:
        assert process.poll() is None, (tmp_path / "error.log").read_text()
        return httpx.get(f"{base}readyz", timeout=1)

    poll_until(readyz, "nginx answers", timeout=30, accept=lambda r: r.status_code == 200)
    yield base
    process.terminate()
    process.wait(30)


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
        seen: list[str] = []

        def next_event_of_the_job() -> str | None:
            message: dict[str, Any] = json.loads(events.recv(timeout=1))
            if message["job"]["id"] != job["id"]:
                return None
            seen.append(message["type"])
            return seen[-1]

        poll_until(
            next_event_of_the_job,
            "job.succeeded on the event feed",
            timeout=20,
            accept=lambda event: event == "job.succeeded",
            interval=0,
        )
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
