"""Start `inferline serve|api|worker` as a real subprocess on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from inferline.testing.polling import json_answer, poll_until

# A process imports torch and loads its models before it serves or claims: seconds on
# an idle machine, a minute on a loaded one. Waits for a process to start use this.
PROCESS_START_TIMEOUT = 120.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sqlite_url(path: Path) -> str:
    """The async SQLite URL of a file."""
    return f"sqlite+aiosqlite:///{path}"


@dataclass
class ServerProcess:
    """One Inferline process; `stop()` sends SIGTERM, `kill()` SIGKILL."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "inferline.cli", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = PROCESS_START_TIMEOUT) -> ServerProcess:
        """Wait until /readyz answers 200 (HTTP processes only); fail at once if it exits.
        A server that never gets ready is killed, so no failed test leaves one running."""

        def readyz() -> httpx.Response:
            self._check_alive()
            return httpx.get(f"{self.url}/readyz", timeout=2.0)

        try:
            poll_until(
                readyz, f"{self.url} ready", timeout=timeout, accept=lambda r: r.status_code == 200
            )
        except TimeoutError as exc:
            self.kill()
            raise TimeoutError(f"{exc}; log:\n{self.log_tail()}") from None
        except BaseException:  # a test's own time limit, an interrupt: no server left behind
            self.kill()
            raise
        return self

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {self.process.returncode}; log:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        return self._signal(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: the crash a durable server must survive."""
        return self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: int, timeout: float) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def server_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment for a server: ours, offline model loading, given INFERLINE_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLINE_")}
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "INFERLINE_DATABASE_URL": database_url,
            "INFERLINE_LOG_FORMAT": "json",
        }
    )
    env.update({f"INFERLINE_{k.upper()}": v for k, v in settings.items()})
    return env


def http_server(
    command: str, database_url: str, log_path: Path, *extra_args: str, **settings: str
) -> ServerProcess:
    """A not-yet-started `inferline serve` or `inferline api` on a free port. `inferline
    api` requires API keys by default; here it runs without unless `auth` says so."""
    if command == "api":
        settings = {"auth": "off", **settings}
    port = free_port()
    args = [command, "--port", str(port), *extra_args]
    return ServerProcess(args, server_env(database_url, **settings), log_path, port)


def worker_process(
    database_url: str, log_path: Path, *extra_args: str, **settings: str
) -> ServerProcess:
    """A not-yet-started `inferline worker`."""
    return ServerProcess(["worker", *extra_args], server_env(database_url, **settings), log_path)


def relay_process(database_url: str, log_path: Path, **settings: str) -> ServerProcess:
    """A not-yet-started `inferline relay` (publishes events, dispatches job ids)."""
    return ServerProcess(["relay"], server_env(database_url, **settings), log_path)


FINISHED = frozenset({"succeeded", "dead", "cancelled", "expired"})


def wait_for_live_workers(
    client: httpx.Client, count: int = 1, timeout: float = PROCESS_START_TIMEOUT
) -> list[dict[str, Any]]:
    """Wait until `count` workers (any process) beat, that is, claim jobs; the API at
    `client` lists them in its dashboard snapshot. Returns them."""
    live: list[dict[str, Any]] = poll_until(
        lambda: json_answer(client.get("/api/v1/dashboard/snapshot"))["workers"]["live"],
        f"{count} live worker(s)",
        timeout=timeout,
        accept=lambda workers: len(workers) >= count,
        interval=0.1,
    )
    return live


def wait_for_job(
    client: httpx.Client, job_id: str, statuses: frozenset[str] = FINISHED, timeout: float = 30.0
) -> dict[str, Any]:
    """Poll a job until its status is one of `statuses`; TimeoutError after `timeout` s."""
    job: dict[str, Any] = poll_until(
        lambda: json_answer(client.get(f"/api/v1/jobs/{job_id}")),
        f"job {job_id} {'/'.join(sorted(statuses))}",
        timeout=timeout,
        accept=lambda job: job.get("status") in statuses,
        interval=0.02,
    )
    return job
