"""Distributed mode end to end: jobs/s with 1, 2 and 4 worker processes, against Celery.

Inferline runs as real processes (`inferline api --no-relay`, `inferline relay`,
`inferline worker` x N) on the machine's PostgreSQL, with the job queue and the events
on each engine in turn: the machine's Redis (Redis Streams) and a private Kafka-protocol
broker (Tansu, in memory), a fresh database and key/topic prefix per run. Celery runs
the same moving-average job with a Redis broker and result backend (`acks_late=True`,
prefork pool of 2) on a private Redis. The load generator is its own process in every
case; a run ends when every result is committed (Inferline: counted in PostgreSQL;
Celery: `join_native`). It also measures, per engine, how long the in-flight jobs of a
SIGKILLed worker take to re-run.

    pip install -e ".[bench]"     # Celery, only for this comparison
    python benchmarks/distributed.py [--jobs 5000] [--workers 1,2,4] [--engines redis,kafka]
                                     [--skip-celery] [--skip-kill]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from inferline.testing import databases as dbs
from inferline.testing.cluster import Cluster
from inferline.testing.load import MOVING_AVERAGE_INPUT, database_report, submit_batch
from inferline.testing.polling import poll_until, poll_until_async
from inferline.testing.services import PrivateKafka, PrivateRedis

HERE = Path(__file__).resolve().parent
WARM_UP_JOBS = 100  # run through every deployment before the clock starts


# -- load generators (each runs in its own process) -----------------------------
def load_inferline(url: str, database_url: str, jobs: int, batch: int, threads: int) -> None:
    """Submit `jobs` jobs in batches from `threads` threads; wait until all succeeded."""
    import asyncpg

    batches = [[f"b{b}-{i}" for i in range(batch)] for b in range(jobs // batch)]
    started = time.perf_counter()

    def submit(part: list[list[str]]) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            for keys in part:
                submit_batch(client, keys)

    pool = [threading.Thread(target=submit, args=(batches[i::threads],)) for i in range(threads)]
    for thread in pool:
        thread.start()

    async def wait_done() -> None:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await poll_until_async(
                lambda: conn.fetchval("SELECT count(*) FROM jobs WHERE status = 'succeeded'"),
                "every job succeeded",
                timeout=3600,
                accept=lambda done: done >= len(batches) * batch + WARM_UP_JOBS,
                interval=0.02,
            )
        finally:
            await conn.close()

    for thread in pool:
        thread.join()
    submitted = time.perf_counter() - started
    asyncio.run(wait_done())
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "jobs": len(batches) * batch,
                "seconds": elapsed,
                "submit_seconds": submitted,
                "jobs_per_second": len(batches) * batch / elapsed,
            }
        )
    )


def load_celery(jobs: int) -> None:
    """Send `jobs` tasks and wait for every result in the Redis backend."""
    sys.path.insert(0, str(HERE))
    from celery.result import ResultSet
    from celery_app import moving_average

    started = time.perf_counter()
    results = [
        moving_average.delay(MOVING_AVERAGE_INPUT["series"], MOVING_AVERAGE_INPUT["window"])
        for _ in range(jobs)
    ]
    submitted = time.perf_counter() - started
    ResultSet(results).join_native(timeout=900)
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "jobs": jobs,
                "seconds": elapsed,
                "submit_seconds": submitted,
                "jobs_per_second": jobs / elapsed,
            }
        )
    )


def run_load(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one load generator as a separate process; its JSON summary."""
    output = subprocess.run(
        [sys.executable, __file__, *args],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


# -- Inferline ------------------------------------------------------------------
class Deployment:
    """A fresh database and key (or topic) prefix with an Inferline cluster on them; the
    queue and the events on `engine`: Redis Streams, or Kafka at `kafka_url`."""

    def __init__(self, workers: int, logs: Path, engine: str, kafka_url: str = "") -> None:
        self.name = dbs.unique_name("inferline_bench")
        self.database_url = asyncio.run(dbs.create_postgres_database(self.name))
        self.prefix = dbs.unique_name("inferline-bench")
        broker = {
            "redis": {
                "queue_url": dbs.redis_url(),
                "events_url": dbs.redis_url(),
                "redis_prefix": self.prefix,
            },
            "kafka": {
                "queue_url": kafka_url,
                "events_url": kafka_url,
                "kafka_topic_prefix": f"{self.prefix}.",
            },
        }[engine]
        settings = {"models": "moving-average", "log_level": "WARNING", **broker}
        self.cluster = Cluster(self.database_url, logs, settings, workers=workers)

    def __enter__(self) -> Deployment:
        self.cluster.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cluster.stop()
        asyncio.run(dbs.drop_postgres_database(self.name))
        asyncio.run(dbs.delete_redis_prefix(self.prefix))


def throughput(workers: int, jobs: int, logs: Path, engine: str, kafka: str) -> dict[str, Any]:
    with Deployment(workers, logs / f"{engine}-w{workers}", engine, kafka) as deployment:
        api = deployment.cluster.api
        assert api is not None
        warm_up(api.url, deployment.database_url)
        result = run_load("load-inferline", api.url, deployment.database_url, str(jobs))
        poll_until(
            lambda: database_report(deployment.database_url)["unpublished_events"] == 0,
            "every event published",
            timeout=120,
        )
        report = database_report(deployment.database_url)
    total = result["jobs"] + WARM_UP_JOBS
    assert report["statuses"] == {"succeeded": total}, report
    assert report["succeeded_events"] == report["jobs_with_succeeded_event"] == total
    return {
        **result,
        "engine": engine,
        "workers": workers,
        "check": "every result committed once, all published",
    }


def warm_up(url: str, database_url: str) -> None:
    """Jobs through every part first (connections, a Kafka consumer group's first join,
    which takes a few seconds), so that the timed run measures the steady state."""
    with httpx.Client(base_url=url, timeout=60) as client:
        submit_batch(client, [f"warm-{i}" for i in range(WARM_UP_JOBS)])
    poll_until(
        lambda: database_report(database_url)["statuses"].get("succeeded", 0) == WARM_UP_JOBS,
        "the warm-up jobs succeeded",
        timeout=120,
    )


def rerun_delay(logs: Path, engine: str, kafka: str, jobs: int) -> dict[str, Any]:
    """SIGKILL a busy worker (default settings) and time until its in-flight jobs finished."""
    with Deployment(2, logs / f"{engine}-kill", engine, kafka) as deployment:
        api, url = deployment.cluster.api, deployment.database_url
        assert api is not None
        warm_up(api.url, url)
        loader = subprocess.Popen(
            [sys.executable, __file__, "load-inferline", api.url, url, str(jobs)],
            stdout=subprocess.DEVNULL,
        )
        victim = deployment.cluster.worker_processes[0]
        assert victim.process is not None
        pattern = f"%-{victim.process.pid}-%"
        query = f"SELECT id FROM jobs WHERE status = 'running' AND worker_id LIKE '{pattern}'"
        poll_until(lambda: len(_rows(url, query)) >= 50, "the worker holds jobs", timeout=60)
        victim.kill()
        killed_at = time.time()
        in_flight = [row[0] for row in _rows(url, query)]
        deployment.cluster.worker_processes[0] = deployment.cluster.new_worker().start()
        ids = ",".join(f"'{i}'" for i in in_flight)
        finished = f"SELECT finished_at FROM jobs WHERE id IN ({ids}) AND status = 'succeeded'"
        poll_until(
            lambda: len(_rows(url, finished)) == len(in_flight), "re-run finished", timeout=120
        )
        delays = sorted(row[0] - killed_at for row in _rows(url, finished))
        loader.wait(300)
    return {
        "engine": engine,
        "in_flight_at_kill": len(in_flight),
        "max_seconds": delays[-1],
        "median_seconds": statistics.median(delays),
        "lease_seconds": 10,
        "reclaim_idle_seconds": 10,
    }


def _rows(database_url: str, query: str) -> list[Any]:
    import asyncpg

    async def fetch() -> list[Any]:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return list(await conn.fetch(query))
        finally:
            await conn.close()

    return asyncio.run(fetch())


# -- Celery ---------------------------------------------------------------------
def celery_throughput(jobs: int, logs: Path) -> dict[str, Any]:
    redis = PrivateRedis(logs).start()
    env = {**os.environ, "CELERY_BROKER_URL": redis.url, "CELERY_RESULT_BACKEND": redis.url}
    log = (logs / "celery.log").open("ab")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=HERE,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        run_load("load-celery", "50", env=env)  # warm-up: the worker is up and serving
        result = run_load("load-celery", str(jobs), env=env)
    finally:
        worker.terminate()
        worker.wait(60)
        redis.stop()
    return {**result, "setup": "Celery prefork 2, Redis broker + result backend, acks_late"}


# -- main -----------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--engines", default="redis,kafka", help="queue and events engines")
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--kill-jobs", type=int, default=20_000, help="jobs streaming in")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    for server in (dbs.POSTGRES, dbs.REDIS):
        if not server.is_up():
            sys.exit(f"{server.name} is not running on {server.address}")
    logs = Path(tempfile.mkdtemp(prefix="inferline-bench-"))
    engines = args.engines.split(",")
    kafka = PrivateKafka(logs).start() if "kafka" in engines else None
    kafka_url = kafka.url if kafka is not None else ""
    figures: dict[str, Any] = {"jobs": args.jobs, "cpus": os.cpu_count(), "inferline": []}
    try:
        for workers in (int(w) for w in args.workers.split(",") if w):
            for engine in engines:  # interleaved, so that both see the same machine load
                entry = throughput(workers, args.jobs, logs, engine, kafka_url)
                figures["inferline"].append(entry)
                print(
                    f"inferline {engine} {workers} worker(s): "
                    f"{entry['jobs_per_second']:.0f} jobs/s",
                    flush=True,
                )
        if not args.skip_celery:
            figures["celery"] = celery_throughput(args.jobs, logs)
            print(f"celery: {figures['celery']['jobs_per_second']:.0f} jobs/s", flush=True)
            for entry in figures["inferline"]:
                entry["ratio_vs_celery"] = (
                    entry["jobs_per_second"] / figures["celery"]["jobs_per_second"]
                )
        if not args.skip_kill:
            figures["rerun_after_sigkill"] = [
                rerun_delay(logs, engine, kafka_url, args.kill_jobs) for engine in engines
            ]
            print(f"re-run after SIGKILL: {figures['rerun_after_sigkill']}", flush=True)
    finally:
        if kafka is not None:
            kafka.stop()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"logs: {logs}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load-inferline":
        load_inferline(sys.argv[2], sys.argv[3], int(sys.argv[4]), batch=250, threads=4)
    elif len(sys.argv) > 1 and sys.argv[1] == "load-celery":
        load_celery(int(sys.argv[2]))
    else:
        main()
