"""The compose stack's nginx config (deploy/nginx/compose.conf) in front of a real server,
with TLS from a certificate this test makes: source S2's layout (`/` the dashboard, `/api`
the API, `/ws/...` the WebSockets), port 80 only redirecting, /metrics kept inside."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from inferline.testing.server import ServerProcess, free_port
from tests.support.events import job_events_until_succeeded
from tests.support.nginx import nginx_config, running_nginx, shipped_site
from tests.support.tls import self_signed


@dataclass
class Proxy:
    http: str
    https: str
    tls: ssl.SSLContext


@pytest.fixture
def proxy(tmp_path: Path, nginx_bin: str, serve: ServerProcess) -> Iterator[Proxy]:
    """nginx with the shipped compose config, on free ports, in front of `serve`."""
    cert, key = self_signed(tmp_path)
    http_port, https_port = free_port(), free_port()
    site = shipped_site(
        "compose.conf",
        {
            "server api:8000;": f"server 127.0.0.1:{serve.port};",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
            "/run/secrets/tls_cert": str(cert),
            "/run/secrets/tls_key": str(key),
        },
    )
    tls = ssl.create_default_context(cafile=str(cert))
    base = Proxy(f"http://127.0.0.1:{http_port}", f"https://127.0.0.1:{https_port}", tls)
    with running_nginx(nginx_bin, nginx_config(tmp_path, site), f"{base.https}/readyz", verify=tls):
        yield base


def test_the_s2_layout_over_tls(proxy: Proxy) -> None:
    """`/` the dashboard, `/api` the API, `/ws/...` the WebSockets; port 80 redirects."""
    assert httpx.get(f"{proxy.http}/nginx-health").text == "ok\n"
    redirect = httpx.get(f"{proxy.http}/api/v1/models?x=1")
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "https://127.0.0.1/api/v1/models?x=1"
    with httpx.Client(base_url=proxy.https, verify=proxy.tls) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        assert page.headers["strict-transport-security"].startswith("max-age=")
        models = client.get("/api/v1/models")
        assert models.status_code == 200
        assert "moving-average" in {model["name"] for model in models.json()["models"]}
        job = client.post(
            "/api/v1/jobs",
            json={"model": "moving-average", "input": {"series": [1, 2, 3]}},
            headers={"X-Request-ID": "compose-proxy-1"},
        )
        assert job.status_code == 202
        assert job.headers["x-request-id"] == "compose-proxy-1"
        assert client.get("/livez").json() == {"status": "ok"}
        assert client.get("/metrics").status_code == 404, "metrics stay inside the network"
    _websockets_under_ws(proxy)  # same proxy: one server start for the whole layout


def _websockets_under_ws(proxy: Proxy) -> None:
    wss = proxy.https.replace("https://", "wss://")
    with connect(f"{wss}/ws/dashboard", ssl=proxy.tls, open_timeout=10) as dashboard:
        update = json.loads(dashboard.recv(timeout=10))
        assert update["type"] == "update"
    with connect(f"{wss}/ws/events", ssl=proxy.tls, open_timeout=10) as events:
        job = httpx.post(
            f"{proxy.https}/api/v1/jobs",
            json={"model": "moving-average", "input": {"series": [2, 4, 6]}},
            verify=proxy.tls,
        ).json()
        seen = job_events_until_succeeded(events, job["id"])
        assert seen[0] == "job.queued"
