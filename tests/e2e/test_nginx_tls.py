"""The shipped TLS config (deploy/nginx/inferline-tls.conf) in front of a server that
requires keys: HTTPS with a certificate made here, HTTP redirected, the key passed
through in `Authorization` and in a WebSocket's `?api_key=`, and no key in nginx's log."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, free_port, http_server, sqlite_url
from tests.e2e.test_auth_processes import _self_signed

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "inferline-tls.conf"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[ServerProcess]:
    server = http_server(
        "serve", sqlite_url(tmp_path / "jobs.db"), tmp_path / "server.log", auth="required"
    )
    server.env["INFERLINE_MODELS"] = "moving-average"
    server.start().wait_ready()
    yield server
    server.stop()


def _config(tmp_path: Path, http_port: int, https_port: int, upstream: int) -> Path:
    cert, key = _self_signed(tmp_path)
    text = SHIPPED.read_text()
    for old, new in {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
        "/etc/inferline/tls/tls.crt": str(cert),
        "/etc/inferline/tls/tls.key": str(key),
        "/var/log/nginx/inferline.access.log": str(tmp_path / "access.log"),
        "return 308 https://$host$request_uri;": f"return 308 https://$host:{https_port}$request_uri;",
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "inferline.conf").write_text(text)
    temp = {n: tmp_path / n for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    config = tmp_path / "nginx.conf"
    config.write_text(f"""
daemon off;
worker_processes 1;
pid {tmp_path / "nginx.pid"};
error_log {tmp_path / "error.log"} info;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {tmp_path / "inferline.conf"};
}}
""")
    return config


def test_nginx_terminates_tls_in_front_of_keys(
    tmp_path: Path, nginx_bin: str, secured: ServerProcess
) -> None:
    http_port, https_port = free_port(), free_port()
    config = _config(tmp_path, http_port, https_port, secured.port or 0)
    command = [nginx_bin, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(config)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    key = subprocess.run(
        [sys.executable, "-m", "inferline.cli", "keys", "create", "--tenant", "acme"],
        env=secured.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    trusted = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    base = f"https://127.0.0.1:{https_port}/inferline/"
    with (tmp_path / "nginx.out").open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(verify=trusted, timeout=10) as client:

            def livez() -> int | None:
                assert process.poll() is None, (tmp_path / "error.log").read_text()
                try:
                    return client.get(base + "livez").status_code
                except httpx.HTTPError:
                    return None

            poll_until(livez, "nginx answers over TLS", timeout=30, accept=lambda s: s == 200)
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
    finally:
        process.terminate()
        process.wait(30)
    logged = (tmp_path / "access.log").read_text()
    assert "/inferline/api/v1/dashboard/ws" in logged and key not in logged
