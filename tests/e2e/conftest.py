"""Fixtures for end-to-end tests: system tools, a headless browser, API and worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inferline.testing.server import ServerProcess, http_server, worker_process
from tests.support.requirements import CHROMIUM_ARGS, missing, require_tool
from tests.support.servers import GatedServer, gated_server


@pytest.fixture
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture
def prometheus_bin() -> str:
    return require_tool("prometheus")


@pytest.fixture
def nginx_bin() -> str:
    return require_tool("nginx", "/usr/sbin/nginx")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    executable = require_tool("chromium", "chromium-browser", "/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright Python package is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def api_only(tmp_path: Path, db_url: str) -> Iterator[ServerProcess]:
    """`inferline serve` without job workers: submitted jobs stay queued until a worker starts."""
    server = http_server(
        "serve", db_url, tmp_path / "api.log", "--workers-in-process", "0", models="moving-average"
    )
    server.start().wait_ready()
    yield server
    server.stop()


@pytest.fixture
def worker_factory(tmp_path: Path, db_url: str) -> Iterator[Any]:
    """Starts `inferline worker` processes on the test's database; stops them afterwards."""
    started: list[ServerProcess] = []

    def start(*args: str) -> ServerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        worker = worker_process(db_url, log_path, *args, models="moving-average").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[GatedServer]:
    """`inferline serve` with the `test-gated` model, whose batches wait for the test."""
    server = gated_server(tmp_path)
    yield server
    server.open_gate()  # nothing stays held while the server stops
    server.server.stop()
