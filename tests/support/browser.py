"""The dashboard in a real headless browser: a page set up the way the browser tests need."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from inferline.dashboard import is_built

PLAYWRIGHT_EXPECT_DEFAULT_MS = 5_000
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@contextmanager
def dashboard_page(browser: Any, *, height: int, timeout_ms: int) -> Iterator[Any]:
    """A page of the built dashboard's size, whose actions and assertions wait up to
    `timeout_ms` (Playwright's default assertion timeout comes back afterwards)."""
    if not is_built():
        pytest.fail("the dashboard is not built: run `make setup` (npm ci && npm run build)")
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": height})
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    expect.set_options(timeout=timeout_ms)
    try:
        yield page
    finally:
        expect.set_options(timeout=PLAYWRIGHT_EXPECT_DEFAULT_MS)
        context.close()


def screenshot(page: Any, artifacts_dir: Path, name: str) -> None:
    """The whole page into test-artifacts/dashboard-`name`.png; with
    INFERLINE_UPDATE_SCREENSHOTS=1 also into docs/screenshots/ (the docs' pictures)."""
    path = artifacts_dir / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("INFERLINE_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
