"""What a test needs from the machine: system programs (chromium, promtool, prometheus,
nginx, npm) and the local database servers.

`scripts/install-system-deps.sh` and `scripts/ensure-services.sh` (run by `make test`)
provide them. A missing one skips the test on a developer's machine and fails it in
CI (env `CI` set).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

from inferline.testing.databases import Server

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_tool(name: str, *candidates: str) -> str:
    """The path of an installed program; skip (locally) or fail (in CI) without it."""
    for candidate in (name, *candidates):
        path = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if path:
            return path
    missing(f"{name} is not installed; run scripts/install-system-deps.sh")


def missing(message: str) -> NoReturn:
    """Something a test needs is absent: fail in CI (env `CI` set), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_server(server: Server) -> None:
    """Skip (locally) or fail (in CI) when a local database server is down."""
    if not server.is_up():
        missing(f"{server.name} is not running on {server.address} (scripts/ensure-services.sh)")
