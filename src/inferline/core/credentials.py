"""The API key a client command sends (`inferline submit`, `jobs`, `models`, `top`)."""

from __future__ import annotations

import os


def client_key() -> str | None:
    """INFERLINE_API_KEY, or the content of the file INFERLINE_API_KEY_FILE names."""
    key = os.environ.get("INFERLINE_API_KEY")
    path = os.environ.get("INFERLINE_API_KEY_FILE")
    if not key and path:
        try:
            with open(path, encoding="utf-8") as handle:
                key = handle.read()
        except OSError as exc:
            raise ValueError(
                f"INFERLINE_API_KEY_FILE: cannot read {path}: {exc.strerror}"
            ) from None
    return key.strip() if key and key.strip() else None


def client_headers() -> dict[str, str]:
    """`Authorization: Bearer <key>` when a key is configured."""
    key = client_key()
    return {"Authorization": f"Bearer {key}"} if key else {}
