"""The Dockerfile, checked without a container engine: hadolint (from its PyPI wheel) lints
it, and a parser of its instructions checks what the image promises: the dashboard built
in a stage of its own, wheels compiled in a builder stage with the flags and pins the
Makefile and scripts/install-llm.sh use, a final stage with no compiler that runs as an
unprivileged user with a health check on a route that exists; and a .dockerignore that
keeps secrets and local state out of the build context but lets in what is copied."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.deploy import REPO_ROOT, http_routes
from tests.support.requirements import require_tool

DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPILERS = ("build-essential", "gcc", "g++", "clang", "cmake", "make", "cargo", "rustc")


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def text(self) -> str:
        return "\n".join(f"{kw} {args}" for kw, args in self.instructions)


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuations joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        result.append((keyword.upper(), " ".join(args.split())))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def stages() -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the build stages, in order."""
    global_args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, args in instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            parts = args.split()
            base = parts[0]
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            found.append(Stage(name=name, base=base))
        elif not found:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            name, _, default = args.partition("=")
            global_args[name] = default
        else:
            found[-1].instructions.append((keyword, args))
    return global_args, found


def by_name(found: list[Stage], name: str) -> Stage:
    (stage,) = [stage for stage in found if stage.name == name]
    return stage


def test_hadolint_finds_nothing() -> None:
    hadolint = require_tool("hadolint", str(Path(sys.executable).parent / "hadolint"))
    done = subprocess.run(
        [hadolint, "--config", str(REPO_ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_stages_build_the_dashboard_and_the_wheels_then_run_without_compilers() -> None:
    global_args, found = stages()
    assert [stage.name for stage in found] == ["dashboard", "builder", "runtime"]
    python = global_args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.1[1-9]-slim-\w+", python), python
    assert by_name(found, "builder").base == by_name(found, "runtime").base == "${PYTHON_IMAGE}"

    dashboard = by_name(found, "dashboard")
    assert "npm ci --no-audit --no-fund" in dashboard.text()
    assert "npm run build" in dashboard.text()
    vite = (REPO_ROOT / "frontend" / "vite.config.js").read_text()
    assert "'../src/inferline/dashboard/static'" in vite  # where the stage copies it from
    builder = by_name(found, "builder")
    assert (
        "--from=dashboard /build/src/inferline/dashboard/static/ "
        "src/inferline/dashboard/static/" in builder.all("COPY")
    )
    assert any("build-essential" in run for run in builder.all("RUN"))

    runtime = found[-1]
    installs = " ".join(runtime.all("RUN"))
    for compiler in COMPILERS:
        assert not re.search(rf"(?<![\w-]){re.escape(compiler)}(?![\w-])", installs), compiler
    for package in ("tesseract-ocr", "tesseract-ocr-eng", "tesseract-ocr-kor"):
        assert re.search(rf"\b{package}\b", installs), f"{package} is not installed"
    copies_from = [args for args in runtime.all("COPY") if "--from=" in args]
    assert copies_from == [], "the wheels are mounted, never copied into a layer"
    assert "--mount=type=bind,from=builder,source=/wheels,target=/wheels" in installs
    assert "--no-index" in installs, "the final stage installs only the built wheels"


def test_pins_and_flags_match_the_makefile_and_the_llm_script() -> None:
    global_args, found = stages()
    makefile = (REPO_ROOT / "Makefile").read_text()
    (torch,) = re.findall(r"pip install --quiet torch==([\d.]+)", makefile)
    assert global_args["TORCH_VERSION"] == torch
    script = (REPO_ROOT / "scripts" / "install-llm.sh").read_text()
    assert global_args["LLAMA_CPP_VERSION"] == re.findall(r"LLAMA_CPP_VERSION=([\d.]+)", script)[0]
    assert global_args["SMOLLM2_VERSION"] == re.findall(r"SMOLLM2_VERSION=([\d.]+)", script)[0]
    flags = re.findall(r'CMAKE_FLAGS="([^"]+)"', script)[0]
    builder = by_name(found, "builder")
    assert f'CMAKE_ARGS="{flags}" pip wheel' in builder.text()
    assert 'echo "torch==${TORCH_VERSION}+${TORCH_VARIANT}"' in builder.text()
    assert "ARG TORCH_VARIANT=cpu" in builder.text()
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert f"llama-cpp-python=={global_args['LLAMA_CPP_VERSION']}" in extras["llm"]
    for extra in global_args["EXTRAS"].split(","):
        assert extra in extras, f"EXTRAS names {extra}, which pyproject.toml lacks"


def test_the_image_runs_unprivileged_with_a_health_check_on_livez(tmp_path: Path) -> None:
    _, found = stages()
    runtime = found[-1]
    (user,) = runtime.all("USER")
    uid = user.split(":")[0]
    assert uid not in ("0", "root"), user
    assert f"--uid {uid}" in runtime.text()
    (healthcheck,) = runtime.all("HEALTHCHECK")
    (url,) = re.findall(r"http://127\.0\.0\.1:(\d+)(/\w+)", healthcheck)
    assert url[1] == "/livez"
    assert url[1] in http_routes(tmp_path)
    (cmd,) = runtime.all("CMD")
    (entrypoint,) = runtime.all("ENTRYPOINT")
    assert entrypoint == '["tini", "--", "inferline"]'
    command = shlex.split(cmd.strip("[]").replace(",", " "))
    assert command[0] == "serve"
    assert command[command.index("--port") + 1] == url[0]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    (expose,) = runtime.all("EXPOSE")
    assert url[0] in expose.split()
    env = " ".join(runtime.all("ENV"))
    assert "HF_HUB_OFFLINE=1" in env, "weights come from packages, never a hub"
    assert "OMP_THREAD_LIMIT=1" in env, "Tesseract is 4-10x slower without it"


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; `**/` is any folder."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        candidates = {pattern, pattern.removeprefix("**/")}
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        names = parts if pattern.startswith("**/") else []
        if any(fnmatch.fnmatch(p, c) for c in candidates for p in [*prefixes, *names]):
            ignored = not negate
    return ignored


def test_the_dockerignore_keeps_secrets_out_and_lets_the_sources_in() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for secret in (".git/config", ".venv/bin/python", "deploy/secrets/postgres_password", ".env"):
        assert _ignored(secret, patterns), f"{secret} would be in the build context"
    for local in ("inferline.db", "frontend/node_modules/vue/index.js", "test-artifacts/x.png"):
        assert _ignored(local, patterns), f"{local} would be in the build context"
    _, found = stages()
    for stage in found:
        for args in stage.all("COPY"):
            if "--from=" in args:
                continue
            for source in args.split()[:-1]:
                assert (REPO_ROOT / source).exists(), f"COPY {source}: no such file"
                assert not _ignored(source.rstrip("/"), patterns), f"COPY {source} is ignored"
    for needed in ("src/inferline/cli.py", "frontend/src/main.js", "pyproject.toml"):
        assert not _ignored(needed, patterns), needed
