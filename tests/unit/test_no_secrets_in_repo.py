"""No secret is committed: no private key, no API key, no password in a URL, and the
files that hold them locally are ignored by git."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATTERNS = {
    "a private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "an Inferline API key": re.compile(r"\bil_[a-z0-9]{8}_[A-Za-z0-9_-]{43}\b"),
    "an OpenAI key": re.compile(r"\bsk-[A-Za-z0-9]{32,}\b"),
    "a password in a URL": re.compile(
        r"://[A-Za-z0-9_.-]+:(?!\*\*\*@|\{|\$|<|MARK)[^@/\s'\"]{6,}@"
    ),
}


def _tracked() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.stdout.decode().split("\0") if name]


def test_no_secret_is_committed() -> None:
    found = []
    for path in _tracked():
        if path.suffix in (".png", ".jpg", ".gguf", ".onnx", ".bin", ".pt", ".ico", ".woff2"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for what, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(ROOT)}: {what}: {match.group(0)[:24]}…")
    assert not found, "\n".join(found)


def test_local_secret_files_are_ignored() -> None:
    for name in (".env", "secrets/db_password", "tls.key", "deploy/secrets/x"):
        checked = subprocess.run(
            ["git", "check-ignore", "-q", name], cwd=ROOT, capture_output=True, timeout=30
        )
        assert checked.returncode == 0, f"{name} is not ignored by git"
