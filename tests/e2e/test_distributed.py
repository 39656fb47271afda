"""Distributed mode as real processes: API, relay and workers on PostgreSQL and Redis or Kafka."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.events import EVENTS_TOPIC
from inferline.testing import databases as dbs
from inferline.testing.cluster import Cluster
from inferline.testing.kafka import read_topic
from inferline.testing.load import (
    EventCollector,
    database_report,
    submit_batch,
    try_database_report,
)
from inferline.testing.polling import NotReady, poll_until
from inferline.testing.server import (
    http_server,
    wait_for_job,
    wait_for_live_workers,
    worker_process,
)
from inferline.testing.services import PrivateKafka, PrivatePostgres, PrivateRedis
from tests.support.requirements import missing, require_server

Broker = PrivateRedis | PrivateKafka

FAST_RECOVERY = {
    "models": "moving-average",
    "lease_seconds": "3",
    "queue_reclaim_idle_seconds": "4",
    "queue_sweep_seconds": "1",
    "default_max_attempts": "10",
    "events_max_length": "1000000",
    "shutdown_grace_seconds": "5",
}


def require_server_binaries() -> None:
    absent = [b for b in ("redis-server", "initdb") if not _installed(b)]
    if absent:
        missing(f"server binaries missing: {absent}")


def _installed(name: str) -> bool:
    return shutil.which(name) is not None or bool(
        list(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    )


@pytest.fixture
def private_servers(tmp_path: Path) -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    """A PostgreSQL and a Redis of this test alone (not started), removed afterwards."""
    require_server_binaries()
    postgres, redis = PrivatePostgres(), PrivateRedis(tmp_path)
    yield postgres, redis
    redis.stop()
    postgres.destroy()


@pytest.fixture
def shared_database() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL."""
    require_server(dbs.POSTGRES)
    require_server(dbs.REDIS)
    name = dbs.unique_name()
    url = asyncio.run(dbs.create_postgres_database(name))
    yield url
    asyncio.run(dbs.drop_postgres_database(name))


@pytest.fixture(params=["redis", "kafka"])
def chaos_servers(
    request: pytest.FixtureRequest,
    private_servers: tuple[PrivatePostgres, PrivateRedis],
    tmp_path: Path,
) -> Iterator[tuple[PrivatePostgres, Broker]]:
    """A private PostgreSQL and a private broker (Redis, or a Tansu Kafka), both started."""
    postgres, redis = private_servers
    broker: Broker = redis if request.param == "redis" else PrivateKafka(tmp_path)
    try:
        broker.start()
    except FileNotFoundError as exc:
        missing(str(exc))
    postgres.start()
    yield postgres, broker
    broker.stop()


def cluster_settings(broker_url: str, prefix: str) -> dict[str, str]:
    """Queue and events on `broker_url` (Redis or Kafka), under `prefix`."""
    if broker_url.startswith("kafka:"):
        engine = {"kafka_topic_prefix": f"{prefix}.", "kafka_session_timeout_ms": "6000"}
    else:
        engine = {"redis_prefix": prefix}
    return {**FAST_RECOVERY, "queue_url": broker_url, "events_url": broker_url, **engine}


def assert_one_succeeded_record_per_job(
    broker: PrivateKafka, prefix: str, report: dict[str, Any]
) -> None:
    """Read `inference_results` back as any Kafka consumer would: every outbox event is
    there once, and each job has exactly one `job.succeeded` record (key = job id)."""
    config = KafkaConfig.from_url(broker.url, topic_prefix=f"{prefix}.")
    records = read_topic(
        config, config.topic(EVENTS_TOPIC), until=lambda found: len(found) >= report["events"]
    )
    assert len(records) == report["events"]
    succeeded = [
        (key, event)
        for key, value in records
        if (event := json.loads(value))["type"] == "job.succeeded"
    ]
    assert all(key == event["job_id"] for key, event in succeeded)
    assert (
        len(succeeded) == len({key for key, _ in succeeded}) == report["jobs_with_succeeded_event"]
    )


def wait_all_succeeded(url: str, expected: int, timeout: float, cluster: Cluster) -> dict[str, Any]:
    """Wait until `expected` jobs succeeded and every event is published; return the report."""

    def done(report: dict[str, Any] | None) -> bool:
        if report is None:  # the database is restarting
            return False
        succeeded = report["statuses"].get("succeeded", 0)
        return bool(succeeded == expected and report["unpublished_events"] == 0)

    try:
        report: dict[str, Any] | None = poll_until(
            lambda: try_database_report(url),
            "all jobs succeeded and published",
            timeout=timeout,
            accept=done,
        )
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{cluster.logs_tail()}") from None
    assert report is not None  # `done` accepts no None
    return report


def test_three_process_kinds_share_jobs_and_events(shared_database: str, tmp_path: Path) -> None:
    prefix = dbs.unique_name("inferline-e2e")
    cluster = Cluster(
        shared_database, tmp_path, cluster_settings(dbs.redis_url(), prefix), workers=2
    )
    cluster.start()
    try:
        assert cluster.api is not None
        collector = EventCollector(cluster.api.url.replace("http", "ws") + "/api/v1/events")
        collector.start()
        with httpx.Client(base_url=cluster.api.url, timeout=30) as client:
            ids = submit_batch(client, [f"k{i}" for i in range(300)])
            job = wait_for_job(client, ids[-1])
            assert job["status"] == "succeeded"
        report = wait_all_succeeded(shared_database, 300, 60, cluster)
        assert report["succeeded_events"] == 300
        poll_until(
            lambda: collector.jobs_with("job.succeeded") == set(ids),
            "every result reached the API's event feed",
            timeout=30,
        )
        collector.stop()
    finally:
        cluster.stop()
        asyncio.run(dbs.delete_redis_prefix(prefix))


def test_processes_start_before_their_servers_and_connect_when_they_come(
    private_servers: tuple[PrivatePostgres, PrivateRedis], tmp_path: Path
) -> None:
    postgres, redis = private_servers
    settings = cluster_settings(redis.url, "early")
    api = http_server("api", postgres.url, tmp_path / "api.log", **settings).start()
    worker = worker_process(postgres.url, tmp_path / "worker.log", **settings).start()
    try:

        def not_ready_reasons() -> list[str]:
            response = httpx.get(f"{api.url}/readyz", timeout=2)
            if response.status_code != 503:
                raise NotReady(f"HTTP {response.status_code}: {response.text[:200]}")
            reasons: list[str] = response.json()["reasons"]
            return reasons

        reasons = poll_until(
            not_ready_reasons,
            "/readyz says the database is missing",
            timeout=30,
            accept=lambda reasons: any("database" in reason for reason in reasons),
        )
        assert any("cannot connect" in r for r in reasons), reasons
        postgres.start()
        redis.start()
        api.wait_ready()
        with httpx.Client(base_url=api.url, timeout=30) as client:
            wait_for_live_workers(client)
            [job_id] = submit_batch(client, ["early-1"])
            assert wait_for_job(client, job_id, timeout=60)["status"] == "succeeded"
    finally:
        worker.stop()
        api.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_chaos_killing_workers_loses_and_duplicates_nothing(
    chaos_servers: tuple[PrivatePostgres, Broker], tmp_path: Path
) -> None:
    """5,000 jobs while a random worker is SIGKILLed every 0.5-1 s for 10 s and restarted."""
    postgres, broker = chaos_servers
    cluster = Cluster(postgres.url, tmp_path, cluster_settings(broker.url, "chaos"), workers=3)
    cluster.start()
    rng = random.Random(5)
    kills = 0
    stop_killing = threading.Event()

    def killer() -> None:
        nonlocal kills
        until = time.monotonic() + 10
        while time.monotonic() < until and not stop_killing.wait(rng.uniform(0.5, 1.0)):
            cluster.kill_random_worker(rng)
            kills += 1

    try:
        assert cluster.api is not None
        collector = EventCollector(cluster.api.url.replace("http", "ws") + "/api/v1/events")
        collector.start()
        chaos = threading.Thread(target=killer)
        chaos.start()
        ids: list[str] = []
        with httpx.Client(base_url=cluster.api.url, timeout=60) as client:
            started = time.monotonic()
            for batch in range(50):  # 5,000 jobs spread over the 10 s of kills
                ids += submit_batch(client, [f"c{batch}-{i}" for i in range(100)])
                pause = started + (batch + 1) * 0.2 - time.monotonic()
                if pause > 0:
                    stop_killing.wait(pause)  # pacing the load, not waiting for a result
        chaos.join()
        assert kills >= 10
        report = wait_all_succeeded(postgres.url, 5000, 120, cluster)
        assert len(set(ids)) == 5000
        assert report["statuses"] == {"succeeded": 5000}
        assert report["succeeded_without_result"] == 0
        assert report["succeeded_events"] == report["jobs_with_succeeded_event"] == 5000
        poll_until(
            lambda: collector.jobs_with("job.succeeded") >= set(ids),
            "every job's result event reached the API",
            timeout=60,
        )
        collector.stop()
        if isinstance(broker, PrivateKafka):
            assert_one_succeeded_record_per_job(broker, "chaos", report)
    finally:
        stop_killing.set()
        cluster.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_chaos_relay_redis_and_postgres_restarts_lose_no_accepted_job(
    private_servers: tuple[PrivatePostgres, PrivateRedis], tmp_path: Path
) -> None:
    """Kill the relay, restart Redis (empty) and PostgreSQL (immediate stop) during a run."""
    postgres, redis = private_servers
    postgres.start()
    redis.start()
    cluster = Cluster(postgres.url, tmp_path, cluster_settings(redis.url, "faults"), workers=2)
    cluster.start()
    accepted: list[str] = []
    failures: list[BaseException] = []

    def load() -> None:
        assert cluster.api is not None
        try:
            with httpx.Client(base_url=cluster.api.url, timeout=10) as client:
                for batch in range(40):
                    accepted.extend(submit_batch(client, [f"f{batch}-{i}" for i in range(50)]))
        except BaseException as exc:
            failures.append(exc)

    try:
        loader = threading.Thread(target=load)
        loader.start()
        poll_until(lambda: len(accepted) >= 300, "load started", timeout=60)
        cluster.kill_relay()
        poll_until(lambda: len(accepted) >= 700, "load goes on without the relay", timeout=60)
        redis.restart()
        poll_until(lambda: len(accepted) >= 1100, "load goes on after Redis", timeout=60)
        postgres.restart()
        loader.join(180)
        assert not failures, failures
        assert len(accepted) == 2000
        report = wait_all_succeeded(postgres.url, 2000, 150, cluster)
        assert report["statuses"] == {"succeeded": 2000}
        assert report["succeeded_events"] == report["jobs_with_succeeded_event"] == 2000
        assert database_report(postgres.url)["unpublished_events"] == 0
    finally:
        cluster.stop()
