"""A distributed Inferline as real processes: one API, a relay and N workers.

Used by the end-to-end and chaos tests and by `benchmarks/distributed.py`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from inferline.testing.server import (
    PROCESS_START_TIMEOUT,
    ServerProcess,
    http_server,
    relay_process,
    wait_for_live_workers,
    worker_process,
)


@dataclass
class Cluster:
    """`inferline api --no-relay`, `inferline relay` and `inferline worker` (times `workers`)."""

    database_url: str
    logs: Path
    settings: dict[str, str]
    workers: int = 1
    concurrency: int = 1
    api: ServerProcess | None = None
    relay: ServerProcess | None = None
    worker_processes: list[ServerProcess] = field(default_factory=list)
    _started: int = 0

    def start(self, *, wait: bool = True) -> Cluster:
        """Start every process; with `wait`, until the API is ready and every worker beats."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.api = http_server(
            "api", self.database_url, self.logs / "api.log", "--no-relay", **self.settings
        ).start()
        self.relay = self.new_relay().start()
        self.worker_processes = [self.new_worker().start() for _ in range(self.workers)]
        if wait:
            self.api.wait_ready(PROCESS_START_TIMEOUT)
            with httpx.Client(base_url=self.api.url, timeout=10) as client:
                wait_for_live_workers(client, self.workers)
        return self

    def new_worker(self) -> ServerProcess:
        """A not-yet-started worker with its own log file."""
        self._started += 1
        return worker_process(
            self.database_url,
            self.logs / f"worker-{self._started}.log",
            "--concurrency",
            str(self.concurrency),
            **self.settings,
        )

    def new_relay(self) -> ServerProcess:
        self._started += 1
        return relay_process(
            self.database_url, self.logs / f"relay-{self._started}.log", **self.settings
        )

    def kill_random_worker(self, rng: random.Random) -> None:
        """SIGKILL one worker and start a fresh one in its place."""
        index = rng.randrange(len(self.worker_processes))
        self.worker_processes[index].kill()
        self.worker_processes[index] = self.new_worker().start()

    def kill_relay(self) -> None:
        """SIGKILL the relay and start a fresh one."""
        assert self.relay is not None
        self.relay.kill()
        self.relay = self.new_relay().start()

    def stop(self) -> None:
        for process in [*self.worker_processes, self.relay, self.api]:
            if process is not None:
                process.stop(timeout=30)

    def logs_tail(self) -> str:
        parts = [
            f"--- {p.log_path.name}\n{p.log_tail(15)}"
            for p in [self.api, self.relay, *self.worker_processes]
            if p is not None
        ]
        return "\n".join(parts)
