"""Soak: the load test's mix, paced at 80 % of the measured maximum, for 10 minutes.

One `inferline serve` (API + worker + relay) on the chosen store serves
`moving-average` and `lstm-forecast`. First the same 256 closed-loop clients as
`tests/e2e/test_load.py` run flat out to measure the maximum request rate; then
the clients are paced to `--fraction` of it for `--minutes`, once the jobs the
probe queued have been worked off. Every minute gives a
p50/p95/p99 over all routes, and the server's RSS is sampled every 5 s. Pass
mark: zero errors, every accepted job succeeded, a flat p99 (the last third of
the run within 1.5x of the first third, after a one-minute warm-up) and flat
memory (RSS at the end within 10 % of RSS after the warm-up). PostgreSQL runs in a
private cluster with the server's defaults (see `database`); MariaDB on the
machine's server; the machine's load average is sampled with the RSS.

    python benchmarks/soak.py --store sqlite [--minutes 10] [--out results/soak-sqlite.json]
    python benchmarks/soak.py --store postgresql --minutes 2   # a shorter look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from inferline.testing import databases as dbs
from inferline.testing.mixed_load import (
    LoadReport,
    MixedLoad,
    percentile,
    wait_until_finished,
)
from inferline.testing.server import http_server, sqlite_url
from inferline.testing.services import PrivatePostgres

MODELS = "moving-average,lstm-forecast"
WARM_UP_SECONDS = 60.0


@asynccontextmanager
async def database(store: str, workdir: Path, shared_postgres: bool) -> AsyncIterator[str]:
    """A fresh database on `store`, dropped afterwards.

    PostgreSQL is a private cluster with the server's defaults (autovacuum on, fsync on)
    unless `shared_postgres`: the machine's shared server runs with autovacuum off (a CI
    setting no production server has), and without it the job tables bloat and the p99
    grows with them, which measures the setting rather than Inferline."""
    if store == "sqlite":
        yield sqlite_url(workdir / "soak.db")
        return
    if store == "postgresql" and not shared_postgres:
        server = PrivatePostgres(settings={"fsync": "on"}).start()
        try:
            yield server.url
        finally:
            server.destroy()
        return
    name = dbs.unique_name("inferline_soak")
    create, drop = {
        "postgresql": (dbs.create_postgres_database, dbs.drop_postgres_database),
        "mysql": (dbs.create_mysql_database, dbs.drop_mysql_database),
    }[store]
    url = await create(name)
    try:
        yield url
    finally:
        await drop(name)


def rss_mib(pid: int) -> float:
    """Resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def sample_rss(
    pid: int, every: float, into: list[tuple[float, float]], load: list[tuple[float, float]]
) -> None:
    """The server's RSS and the machine's 1-minute load average, every `every` seconds:
    a load above the cores means something else competed for them (the figures are then
    the machine's, not the server's)."""
    started = time.monotonic()
    while True:
        at = round(time.monotonic() - started, 1)
        into.append((at, round(rss_mib(pid), 1)))
        load.append((at, round(os.getloadavg()[0], 2)))
        await asyncio.sleep(every)


def per_minute(report: LoadReport) -> list[dict[str, Any]]:
    """p50/p95/p99 (ms) and requests of each minute of the run."""
    minutes: dict[int, list[float]] = {}
    for sent_at, latency in report.timeline:
        minutes.setdefault(int(sent_at // 60), []).append(latency)
    return [
        {
            "minute": m + 1,
            "requests": len(values),
            **{f"p{q}_ms": round(percentile(values, q / 100) * 1000, 1) for q in (50, 95, 99)},
        }
        for m, values in sorted(minutes.items())
    ]


def verdict(
    report: LoadReport, rss: list[tuple[float, float]], statuses: dict[str, int]
) -> dict[str, Any]:
    """The pass mark's parts, each with the figures it compared."""
    run = report.seconds
    third = (run - WARM_UP_SECONDS) / 3
    first = [lat for t, lat in report.timeline if WARM_UP_SECONDS <= t < WARM_UP_SECONDS + third]
    last = [lat for t, lat in report.timeline if t >= run - third]
    p99_first, p99_last = percentile(first, 0.99), percentile(last, 0.99)
    rss_after_warm_up = next((m for t, m in rss if t >= WARM_UP_SECONDS), rss[-1][1])
    rss_end = rss[-1][1]
    checks = {
        "no_errors": not report.errors,
        "all_jobs_succeeded": set(statuses) == {"succeeded"},
        "flat_p99": p99_last <= 1.5 * p99_first,
        "flat_memory": rss_end <= 1.10 * rss_after_warm_up,
    }
    return {
        **checks,
        "passed": all(checks.values()),
        "p99_first_third_ms": round(p99_first * 1000, 1),
        "p99_last_third_ms": round(p99_last * 1000, 1),
        "rss_after_warm_up_mib": rss_after_warm_up,
        "rss_end_mib": rss_end,
    }


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="inferline-soak-") as tmp:
        workdir = Path(tmp)
        async with database(args.store, workdir, args.shared_postgres) as url:
            server = http_server("serve", url, workdir / "server.log", models=MODELS)
            server.start().wait_ready()
            assert server.process is not None
            try:
                print(f"measuring the maximum for {args.probe_seconds:.0f} s ...", flush=True)
                probe = await MixedLoad(server.url, args.clients, args.probe_seconds).run()
                maximum = probe.requests / probe.seconds
                async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                    # the probe's backlog of jobs is worked off before the soak starts
                    await wait_until_finished(client, probe.accepted, timeout=300)
                rate = args.fraction * maximum
                print(
                    f"maximum {maximum:.0f} req/s; soaking at {rate:.0f} req/s "
                    f"for {args.minutes} min ...",
                    flush=True,
                )
                rss: list[tuple[float, float]] = []
                machine_load: list[tuple[float, float]] = []
                sampler = asyncio.create_task(
                    sample_rss(server.process.pid, 5.0, rss, machine_load)
                )
                load = MixedLoad(server.url, args.clients, args.minutes * 60, rate=rate)
                report = await load.run()
                sampler.cancel()
                async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                    jobs = probe.accepted + report.accepted
                    statuses = await wait_until_finished(client, jobs, timeout=300)
            finally:
                server.stop()
    return {
        "store": args.store,
        "postgres": None
        if args.store != "postgresql"
        else "shared server"
        if args.shared_postgres
        else "private cluster, server defaults, fsync on",
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "clients": args.clients,
        "maximum_rps": round(maximum, 1),
        "paced_rps": round(rate, 1),
        "probe": probe.summary(),
        "soak": report.summary(),
        "per_minute": per_minute(report),
        "rss_mib": rss,
        "load_average": machine_load,
        "cores": os.cpu_count(),
        "job_statuses": statuses,
        "verdict": verdict(report, rss, statuses),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql", "mysql"), default="sqlite")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fraction", type=float, default=0.8, help="of the measured maximum")
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--probe-seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--shared-postgres",
        action="store_true",
        help="use the machine's PostgreSQL server instead of a private cluster with defaults",
    )
    args = parser.parse_args()
    result = asyncio.run(soak(args))
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(
        json.dumps(
            {
                k: result[k]
                for k in ("maximum_rps", "paced_rps", "per_minute", "job_statuses", "verdict")
            },
            indent=1,
        )
    )
    return 0 if result["verdict"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
