"""Benchmark of the core platform on the embedded default (SQLite, in-process queue).

Measures, in one run on one machine:
  1. end-to-end jobs/s and submit-to-done latency percentiles for `moving-average`,
     submitted in batches of 100 and one job per request at several concurrencies;
  2. the service time per item of `moving-average` and `lstm-forecast` in-process;
  3. the micro-batcher's overhead against calling the model in-process.

The server runs in its own process (`inferline serve`); this script is the load
generator. Completion is read from the SQLite file (read-only, WAL), so checking
progress adds no HTTP load. Latencies: `server` = job row committed -> result
committed; `client` = request sent -> result committed.

    .venv/bin/pip install -e ".[bench]"      # aiohttp for the load generator
    .venv/bin/python benchmarks/jobs.py              # full run, about 2-3 minutes
    .venv/bin/python benchmarks/jobs.py --quick      # smaller counts
    .venv/bin/python benchmarks/jobs.py --quick --max-queued-jobs 10000
        # a queue limit close enough that every submit counts the queue exactly
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from inferline.testing.polling import poll_until_async
from inferline.testing.server import http_server, sqlite_url

MODEL = "moving-average"
SERIES = {"series": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], "window": 3}


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    if not values:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
    }


class Progress:
    """Reads job states straight from the SQLite file."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute(sql, args).fetchall()

    def _by_chunks(self, select: str, ids: list[str]) -> list[tuple[Any, ...]]:
        """`select ... WHERE ... id IN ({marks})` over `ids`, 900 at a time (SQLite's
        bound-parameter limit), rows of every chunk together."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            rows += self._query(select.format(marks=",".join("?" * len(chunk))), tuple(chunk))
        return rows

    def finished(self, ids: list[str]) -> int:
        """How many of these jobs have succeeded."""
        counts = self._by_chunks(
            "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND id IN ({marks})", ids
        )
        return sum(int(count) for (count,) in counts)

    def times(self, ids: list[str]) -> dict[str, tuple[float, float]]:
        """Each job's (created_at, finished_at)."""
        rows = self._by_chunks(
            "SELECT id, created_at, finished_at FROM jobs WHERE id IN ({marks})", ids
        )
        return {job_id: (created, finished) for job_id, created, finished in rows}


async def wait_all(progress: Progress, ids: list[str], timeout: float) -> None:
    async def finished() -> int:
        return progress.finished(ids)

    await poll_until_async(
        finished,
        f"{len(ids)} jobs finished",
        timeout=timeout,
        accept=lambda count: count == len(ids),
        interval=0.02,
    )


async def run_batched(
    url: str, progress: Progress, total: int, per_request: int = 100, parallel: int = 4
) -> dict[str, Any]:
    """Submit `total` jobs through POST /api/v1/jobs/batch, `parallel` requests at a time."""
    sent_at: dict[str, float] = {}
    body = {"jobs": [{"model": MODEL, "input": SERIES}] * per_request}
    queue = list(range(total // per_request))
    async with aiohttp.ClientSession(base_url=url) as session:
        started = time.time()

        async def sender() -> None:
            while queue:
                queue.pop()
                sent = time.time()
                async with session.post("/api/v1/jobs/batch", json=body) as response:
                    assert response.status == 202, await response.text()
                    for job in (await response.json())["jobs"]:
                        sent_at[job["id"]] = sent

        await asyncio.gather(*(sender() for _ in range(parallel)))
        submitted = time.time()
    ids = list(sent_at)
    await wait_all(progress, ids, timeout=600)
    return summarise(
        f"batches of {per_request}, {parallel} in parallel",
        ids,
        sent_at,
        started,
        submitted,
        progress,
    )


async def run_single(url: str, progress: Progress, total: int, concurrency: int) -> dict[str, Any]:
    """Submit `total` jobs one per request, `concurrency` requests in flight."""
    sent_at: dict[str, float] = {}
    remaining = [total]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:
        started = time.time()

        async def client() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                sent = time.time()
                async with session.post(
                    "/api/v1/jobs", json={"model": MODEL, "input": SERIES}
                ) as r:
                    assert r.status == 202, await r.text()
                    sent_at[(await r.json())["id"]] = sent

        await asyncio.gather(*(client() for _ in range(concurrency)))
        submitted = time.time()
    ids = list(sent_at)
    await wait_all(progress, ids, timeout=600)
    return summarise(
        f"one job per request, concurrency {concurrency}",
        ids,
        sent_at,
        started,
        submitted,
        progress,
    )


def summarise(
    name: str,
    ids: list[str],
    sent_at: dict[str, float],
    started: float,
    submitted: float,
    progress: Progress,
) -> dict[str, Any]:
    times = progress.times(ids)
    last_done = max(finished for _, finished in times.values())
    return {
        "scenario": name,
        "jobs": len(ids),
        "submit_per_s": round(len(ids) / (submitted - started)),
        "end_to_end_jobs_per_s": round(len(ids) / (last_done - started)),
        "server_latency": percentiles([f - c for c, f in times.values()]),
        "client_latency": percentiles([times[i][1] - sent_at[i] for i in ids]),
    }


def service_times(repeats: int) -> list[dict[str, Any]]:
    """Per-item compute time of both models in this process, batch 1 and a full batch."""
    from inferline.models.lstm_forecast import LSTMForecast
    from inferline.models.moving_average import MovingAverage

    rows = []
    cases = [
        (
            MovingAverage(),
            MovingAverage.input_schema(series=[float(i % 12) for i in range(96)], window=3),
        ),
        (
            LSTMForecast(),
            LSTMForecast.input_schema(series=[float(i % 12) for i in range(96)], horizon=1),
        ),
    ]
    for model, item in cases:
        model.load()
        model.warmup()
        for batch in (1, model.max_batch_size):
            items = [item] * batch
            samples = []
            for _ in range(repeats):
                begun = time.perf_counter()
                model.predict_batch(items)
                samples.append((time.perf_counter() - begun) / batch)
            rows.append(
                {
                    "model": model.name,
                    "batch": batch,
                    "ms_per_item_median": round(statistics.median(samples) * 1000, 3),
                    "ms_per_item_p95": round(statistics.quantiles(samples, n=20)[18] * 1000, 3),
                }
            )
    return rows


async def batcher_overhead(items: int) -> dict[str, Any]:
    """The same items through the MicroBatcher vs direct predict_batch calls in-process."""
    from inferline.models.moving_average import MovingAverage
    from inferline.runtime.batcher import BatchingConfig, Lane, MicroBatcher

    model = MovingAverage()
    item = MovingAverage.input_schema(**SERIES)
    size = MovingAverage.max_batch_size
    begun = time.perf_counter()
    for _ in range(items // size):
        model.predict_batch([item] * size)
    direct = time.perf_counter() - begun

    batcher = MicroBatcher("bench", model.predict_batch, BatchingConfig(size, 2.0, items))
    await batcher.start()
    begun = time.perf_counter()
    await asyncio.gather(*(batcher.submit(item, Lane.JOB) for _ in range(items // size * size)))
    batched = time.perf_counter() - begun
    await batcher.stop()
    count = items // size * size
    return {
        "items": count,
        "direct_items_per_s": round(count / direct),
        "batcher_items_per_s": round(count / batched),
        "overhead_us_per_item": round((batched - direct) / count * 1e6, 1),
        "batcher_vs_direct": round(direct / batched, 3),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--max-queued-jobs", type=int, help="the server's INFERLINE_MAX_QUEUED_JOBS"
    )
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    results: dict[str, Any] = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "max_queued_jobs": args.max_queued_jobs,
    }
    print("service time per item ...", file=sys.stderr)
    results["service_time"] = service_times(repeats=int(200 * scale) or 20)
    print("batcher overhead ...", file=sys.stderr)
    results["batcher_overhead"] = await batcher_overhead(int(50_000 * scale))

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        limit = {"max_queued_jobs": str(args.max_queued_jobs)} if args.max_queued_jobs else {}
        server = http_server(
            "serve",
            sqlite_url(db),
            Path(tmp) / "server.log",
            models=MODEL,
            log_level="WARNING",
            **limit,
        )
        server.start().wait_ready()
        progress = Progress(db)
        runs = []
        try:
            print("batched submissions ...", file=sys.stderr)
            runs.append(await run_batched(server.url, progress, int(20_000 * scale)))
            for concurrency in (1, 16, 64, 256):
                print(f"single submissions, concurrency {concurrency} ...", file=sys.stderr)
                total = int((500 if concurrency == 1 else 4000) * scale)
                runs.append(await run_single(server.url, progress, total, concurrency))
        finally:
            server.stop()
        results["end_to_end"] = runs
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    asyncio.run(main())
