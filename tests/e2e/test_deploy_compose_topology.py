"""deploy/compose.yaml's Inferline services as real processes, with no container engine:
each service's own command and environment (queue on Redis DB 1, cache on DB 0, events on
Kafka, the database URL and the key-hashing secret read from files), only the container
addresses pointed at this machine's servers (PostgreSQL, Redis, a private Kafka broker)
and the ports made free. Jobs submitted to the API are run by the worker, and their events
reach a WebSocket client through the relay and Kafka: the stack's settings work together.

Two things differ from the containers, on purpose: the cheap `moving-average` model is
served instead of every model, and keys are off (their checks are the security tests';
here the processes listen on 127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from inferline.core.settings import Settings
from inferline.testing import databases as dbs
from inferline.testing.polling import poll_until
from inferline.testing.server import (
    ServerProcess,
    free_port,
    wait_for_job,
    wait_for_live_workers,
)
from inferline.testing.services import PrivateKafka
from tests.support.deploy import DEPLOY, load_compose
from tests.support.requirements import require_server

ROLES = ("api", "worker", "relay")


def settings_read_files(folder: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether this tree's Settings read INFERLINE_<NAME>_FILE (else the test inlines the
    files' values, as the branch that adds it is not merged yet)."""
    probe = folder / "log-level"
    probe.write_text("DEBUG\n")
    with monkeypatch.context() as env:
        for name in [name for name in os.environ if name.startswith("INFERLINE_")]:
            env.delenv(name)
        env.setenv("INFERLINE_LOG_LEVEL_FILE", str(probe))
        return Settings().log_level == "DEBUG"


async def _delete_keys(prefix: str) -> None:
    for db in (0, 1):
        await dbs.delete_redis_prefix(prefix, db=db)


@pytest.fixture
def stack(
    tmp_path: Path, kafka_broker: PrivateKafka, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, ServerProcess]]:
    require_server(dbs.POSTGRES)
    require_server(dbs.REDIS)
    name = dbs.unique_name()
    database_url = asyncio.run(dbs.create_postgres_database(name))
    prefix = f"deploy-{secrets.token_hex(4)}"
    secret_files = tmp_path / "secrets"
    secret_files.mkdir()
    values = {"database_url": database_url, "auth_secret": secrets.token_hex(24)}
    for secret, value in values.items():
        (secret_files / secret).write_text(value + "\n")
    files_supported = settings_read_files(tmp_path, monkeypatch)
    services = load_compose(DEPLOY / "compose.yaml")["services"]
    processes: dict[str, ServerProcess] = {}
    for role in ROLES:
        service = services[role]
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLINE_")}
        for variable, value in service["environment"].items():
            value = str(value)
            value = value.replace("redis://redis:6379/", f"redis://{dbs.REDIS_HOST}/")
            value = value.replace("kafka://kafka:9092", kafka_broker.url)
            if value.startswith("/run/secrets/"):
                path = secret_files / value.removeprefix("/run/secrets/")
                if not files_supported:
                    variable, value = variable.removesuffix("_FILE"), path.read_text().strip()
                else:
                    value = str(path)
            env[variable] = value
        left = [v for v in env.values() if re.search(r"(//|@)(redis|kafka|postgres):", v)]
        assert left == [], f"{role}: a container address is left: {left}"
        env.update(
            {
                "HF_HUB_OFFLINE": "1",
                "INFERLINE_MODELS": "moving-average",
                "INFERLINE_AUTH": "off",
                "INFERLINE_REDIS_PREFIX": prefix,
                "INFERLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.",
            }
        )
        args = list(service["command"])
        port = None
        for option in ("--port", "--metrics-port"):
            if option in args:
                port = free_port()
                args[args.index(option) + 1] = str(port)
        for option in ("--host", "--metrics-host"):
            if option in args:
                args[args.index(option) + 1] = "127.0.0.1"  # tests listen on loopback only
        processes[role] = ServerProcess(args, env, tmp_path / f"{role}.log", port)
    try:
        for process in processes.values():
            process.start()
        processes["api"].wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()
        asyncio.run(dbs.drop_postgres_database(name))
        asyncio.run(_delete_keys(prefix))


@pytest.mark.timeout(300)
def test_the_compose_services_run_jobs_together(stack: dict[str, ServerProcess]) -> None:
    api = stack["api"]
    assert api.args[0] == "api"
    assert "--no-relay" in api.args, "the relay service publishes the events"
    with httpx.Client(base_url=api.url, timeout=10) as client:
        wait_for_live_workers(client)
        ws_url = api.url.replace("http://", "ws://") + "/api/v1/events"
        with connect(ws_url, open_timeout=10) as events:
            jobs = [
                client.post(
                    "/api/v1/jobs",
                    json={"model": "moving-average", "input": {"series": [1, 2, 3, i]}},
                ).json()
                for i in range(5)
            ]
            ids = {job["id"] for job in jobs}
            succeeded: set[str] = set()

            def next_success() -> set[str]:
                message: dict[str, Any] = json.loads(events.recv(timeout=1))
                if message["type"] == "job.succeeded" and message["job"]["id"] in ids:
                    succeeded.add(message["job"]["id"])
                return succeeded

            poll_until(
                next_success,
                "job.succeeded of every job on the Kafka-fed event stream",
                timeout=90,
                accept=lambda seen: seen == ids,
                interval=0,
            )
        for job in jobs:
            assert wait_for_job(client, job["id"])["status"] == "succeeded"
    for role in ("worker", "relay"):
        assert stack[role].port is not None
        metrics = httpx.get(f"http://127.0.0.1:{stack[role].port}/metrics", timeout=5)
        assert metrics.status_code == 200, f"the {role}'s health check would fail"
        assert "inferline_" in metrics.text
