"""The compose stack's nginx config (deploy/nginx/compose.conf) in front of a real server,
with TLS from a certificate this test makes: source S2's layout (`/` the dashboard, `/api`
the API, `/ws/...` the WebSockets), port 80 only redirecting, /metrics kept inside."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, free_port
from tests.support.deploy import DEPLOY
from tests.support.requirements import require_tool

SHIPPED = DEPLOY / "nginx" / "compose.conf"


@dataclass
class Proxy:
    http: str
    https: str
    tls: ssl.SSLContext


def _certificate(folder: Path) -> tuple[Path, Path]:
    openssl = require_tool("openssl")
    cert, key = folder / "tls.crt", folder / "tls.key"
    command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"]
    command += ["-keyout", str(key), "-out", str(cert)]
    made = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return cert, key


@pytest.fixture
def proxy(tmp_path: Path, nginx_bin: str, serve: ServerProcess) -> Iterator[Proxy]:
    """nginx with the shipped compose config, on free ports, in front of `serve`."""
    cert, key = _certificate(tmp_path)
    http_port, https_port = free_port(), free_port()
    server = SHIPPED.read_text()
    replacements = {
        "server api:8000;": f"server 127.0.0.1:{serve.port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "/run/secrets/tls_cert": str(cert),
        "/run/secrets/tls_key": str(key),
    }
    for old, new in replacements.items():
        assert old in server, f"{old} is no longer in {SHIPPED.name}"
        server = server.replace(old, new)
    (tmp_path / "compose.conf").write_text(server)
    temp = "\n".join(
        f"    {name}_temp_path {tmp_path / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = tmp_path / "nginx.conf"
    config.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp_path / "nginx.pid"};
error_log {tmp_path / "error.log"} info;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 128; }}
http {{
    access_log {tmp_path / "access.log"};
{temp}
    include {tmp_path / "compose.conf"};
}}
""")
    command = [nginx_bin, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(config)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    tls = ssl.create_default_context(cafile=str(cert))
    base = Proxy(f"http://127.0.0.1:{http_port}", f"https://127.0.0.1:{https_port}", tls)

    def readyz() -> httpx.Response:
        assert process.poll() is None, (tmp_path / "error.log").read_text()
        return httpx.get(f"{base.https}/readyz", verify=tls, timeout=1)

    poll_until(readyz, "nginx answers over TLS", timeout=30, accept=lambda r: r.status_code == 200)
    yield base
    process.terminate()
    process.wait(30)


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
        seen: list[str] = []

        def next_event_of_the_job() -> str | None:
            message: dict[str, Any] = json.loads(events.recv(timeout=1))
            if message["job"]["id"] != job["id"]:
                return None
            seen.append(message["type"])
            return seen[-1]

        poll_until(
            next_event_of_the_job,
            "job.succeeded on /ws/events",
            timeout=20,
            accept=lambda event: event == "job.succeeded",
            interval=0,
        )
        assert seen[0] == "job.queued"
