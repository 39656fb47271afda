"""The dashboard's built front end lives in `static/` (built from `frontend/` by `make setup`)."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"

BUILD_HINT = "make setup (or: cd frontend && npm ci && npm run build)"


def is_built(static_dir: Path = STATIC_DIR) -> bool:
    """True when the front end has been built into the package."""
    return (static_dir / "index.html").is_file()
