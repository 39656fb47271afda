"""A real nginx in front of a test server: one of the shipped site configs, moved onto
free ports and temp paths, wrapped in a minimal nginx.conf and run in the foreground."""

from __future__ import annotations

import os
import ssl
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from inferline.testing.polling import poll_until
from tests.support.deploy import DEPLOY

TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def shipped_site(name: str, replacements: Mapping[str, str]) -> str:
    """The text of `deploy/nginx/<name>` with each `old` replaced by `new`; fails if an
    `old` is no longer there (the shipped file changed under the test)."""
    text = (DEPLOY / "nginx" / name).read_text()
    for old, new in replacements.items():
        assert old in text, f"{old} is no longer in {name}"
        text = text.replace(old, new)
    return text


def nginx_config(tmp_path: Path, site: str) -> Path:
    """A complete nginx.conf including `site` (a server-block text), with its pid, logs
    and temp folders under `tmp_path`; returns the path of the nginx.conf."""
    (tmp_path / "site.conf").write_text(site)
    temp = "\n".join(f"    {name}_temp_path {tmp_path / name};" for name in TEMP_PATHS)
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
    include {tmp_path / "site.conf"};
}}
""")
    return config


@contextmanager
def running_nginx(
    nginx_bin: str, config: Path, ready_url: str, *, verify: ssl.SSLContext | bool = True
) -> Iterator[subprocess.Popen[bytes]]:
    """nginx with `config` (checked with `nginx -t` first) until `ready_url` answers 200;
    stopped on exit. Its error log is in the failure if it dies while starting."""
    folder = config.parent
    command = [nginx_bin, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    with (folder / "nginx.out").open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:

        def ready() -> httpx.Response:
            assert process.poll() is None, (folder / "error.log").read_text()
            return httpx.get(ready_url, verify=verify, timeout=1)

        poll_until(ready, f"nginx answers {ready_url}", timeout=30, accept=lambda r: r.is_success)
        yield process
    finally:
        process.terminate()
        process.wait(30)
