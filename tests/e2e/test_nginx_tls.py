"""The shipped TLS config (deploy/nginx/inferline-tls.conf) in front of a server that
requires keys: HTTPS with a certificate made here, HTTP redirected, the key passed
through in `Authorization` and in a WebSocket's `?api_key=`, and no key in nginx's log."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from inferline.testing.server import ServerProcess, free_port, http_server, sqlite_url
from tests.support.auth import cli_key
from tests.support.nginx import nginx_config, running_nginx, shipped_site
from tests.support.tls import self_signed


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[ServerProcess]:
    server = http_server(
        "serve", sqlite_url(tmp_path / "jobs.db"), tmp_path / "server.log", auth="required"
    )
    server.env["INFERLINE_MODELS"] = "moving-average"
    server.start().wait_ready()
    yield server
    server.stop()


def test_nginx_terminates_tls_in_front_of_keys(
    tmp_path: Path, nginx_bin: str, secured: ServerProcess
) -> None:
    http_port, https_port = free_port(), free_port()
    cert, tls_key = self_signed(tmp_path)
    site = shipped_site(
        "inferline-tls.conf",
        {
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{secured.port};",
            "/etc/inferline/tls/tls.crt": str(cert),
            "/etc/inferline/tls/tls.key": str(tls_key),
            "/var/log/nginx/inferline.access.log": str(tmp_path / "access.log"),
            "return 308 https://$host$request_uri;": (
                f"return 308 https://$host:{https_port}$request_uri;"
            ),
        },
    )
    key = cli_key(secured.env)
    trusted = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{https_port}/inferline/"
    with running_nginx(nginx_bin, nginx_config(tmp_path, site), base + "livez", verify=trusted):
        with httpx.Client(verify=trusted, timeout=10) as client:
            assert client.get(base + "api/v1/jobs").status_code == 401
            auth = {"Authorization": f"Bearer {key}"}
            job = {"model": "moving-average", "input": {"series": [1, 2, 3]}}
            created = client.post(base + "api/v1/jobs", json=job, headers=auth)
            assert created.status_code == 202, created.text
            assert client.get(base + "api/v1/jobs", headers=auth).status_code == 200
            assert "max-age" in client.get(base + "livez").headers["strict-transport-security"]

        redirect = httpx.get(f"http://127.0.0.1:{http_port}/inferline/livez")
        assert redirect.status_code == 308
        assert redirect.headers["location"].startswith(f"https://127.0.0.1:{https_port}/")

        ws = f"wss://127.0.0.1:{https_port}/inferline/api/v1/dashboard/ws?api_key={key}"
        with connect(ws, ssl=trusted, open_timeout=10) as dashboard:
            assert json.loads(dashboard.recv(timeout=10))["type"] == "update"
    logged = (tmp_path / "access.log").read_text()
    assert "/inferline/api/v1/dashboard/ws" in logged and key not in logged
