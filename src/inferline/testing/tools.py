"""System programs the end-to-end tests drive: chromium, promtool, prometheus, nginx.

`scripts/install-system-deps.sh` (run by `make test`) installs them. A missing one
skips the test on a developer's machine and fails it in CI (env `CI` set).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

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
