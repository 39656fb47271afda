"""`make run` on a fresh clone: the dashboard's npm install succeeds and rewrites nothing.

It runs the Makefile's own install command (NPM_INSTALL) in a copy of frontend/ without
node_modules, as a fresh clone has it, and needs npm and the npm registry.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.requirements import require_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
TRACKED = ("package.json", "package-lock.json")


def makefile_install_command() -> list[str]:
    makefile = (REPO_ROOT / "Makefile").read_text()
    found = re.search(r"^NPM_INSTALL := (.+)$", makefile, re.MULTILINE)
    assert found, "the Makefile defines no NPM_INSTALL"
    return shlex.split(found[1])


@pytest.mark.timeout(600)
def test_the_makefiles_npm_install_works_on_a_fresh_clone_and_keeps_the_lock(
    tmp_path: Path,
) -> None:
    require_tool("npm")
    command = makefile_install_command()
    assert command[:2] == ["npm", "ci"], command  # the lock is the single source of versions
    frontend = tmp_path / "frontend"
    shutil.copytree(REPO_ROOT / "frontend", frontend, ignore=shutil.ignore_patterns("node_modules"))
    before = {name: (frontend / name).read_bytes() for name in TRACKED}

    installed = subprocess.run(command, cwd=frontend, capture_output=True, text=True, timeout=540)

    assert installed.returncode == 0, installed.stdout[-4000:] + installed.stderr[-4000:]
    for name in TRACKED:
        assert (frontend / name).read_bytes() == before[name], f"{name} was rewritten"
    assert (frontend / "node_modules" / "vite" / "package.json").is_file()
