"""One job per request, driven by an external load generator (issue 17).

`hey` (Debian package `hey`) sends `POST /api/v1/jobs` (moving-average, one job a
request) for a fixed time at each concurrency to one `inferline serve` on a SQLite file:
every 202 is answered only after the job's row is committed. Beside it, in the same run
and on the same server:
  - `GET /livez`: the HTTP stack alone (uvicorn, FastAPI, our middleware), the ceiling
    one Python process reaches here for any route;
  - `POST /api/v1/jobs` on `inferline api` with no worker in the process (the workers
    run elsewhere), to show what the in-process worker and relay cost the submits.
While each server's first submit run goes, `py-spy` samples it (the thread holding the
GIL): the report says where its Python time goes, by library and by function.
Afterwards the jobs in the database are counted against the 202s (each one durable,
none twice).

    apt-get install hey && .venv/bin/pip install py-spy      # the tools it drives
    .venv/bin/python benchmarks/single_jobs.py --out benchmarks/results/single-jobs.json
    .venv/bin/python benchmarks/single_jobs.py --seconds 5   # a quick look
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from inferline.testing.server import ServerProcess, http_server, sqlite_url

MODEL = "moving-average"
BODY = json.dumps({"model": MODEL, "input": {"series": [1.0, 2.0, 3.0, 4.0, 5.0], "window": 3}})
TOP = 15
# py-spy installed by pip sits beside this interpreter (a virtualenv's bin), or on PATH
PY_SPY = shutil.which(
    "py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
)


def hey(url: str, *, seconds: float, clients: int, body: str | None = None) -> dict[str, Any]:
    """One `hey` run; its per-request CSV gives exact percentiles and status counts."""
    command = ["hey", "-z", f"{seconds}s", "-c", str(clients), "-o", "csv"]
    if body is not None:
        command += ["-m", "POST", "-T", "application/json", "-d", body]
    started = time.monotonic()
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    elapsed = time.monotonic() - started
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    latencies = sorted(float(r["response-time"]) for r in rows)
    statuses = Counter(r["status-code"] for r in rows)
    if not latencies:
        return {"requests": 0, "statuses": dict(statuses), "stderr": done.stderr[-500:]}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(rows),
        "requests_per_second": round(len(rows) / seconds, 1),
        "statuses": dict(statuses),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


def profile(pid: int, seconds: float, raw: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` for `seconds` into collapsed stacks (started, not awaited)."""
    options = f"--pid {pid} --duration {int(seconds)} --rate 250 --format raw --gil --nonblocking"
    return subprocess.Popen(
        [PY_SPY, "record", *options.split(), "--output", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def hot_functions(raw: Path) -> dict[str, Any]:
    """Where the server's Python time goes (py-spy samples only the thread holding the
    GIL): `by_package`, each sample's innermost frame by library (`python` is the
    standard library, asyncio's loop included); `self`, the functions that hold the most
    samples themselves; `inferline`, our functions with everything they call (each stack
    counted once)."""
    packages: Counter[str] = Counter()
    own: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = [_frame(f) for f in stack.split(";")]
        n = int(count)
        samples += n
        package, innermost = frames[-1]
        packages[package] += n
        own[innermost] += n
        for function in {name for package, name in frames if package == "inferline"}:
            ours[function] += n

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"name": name, "share": round(n / samples, 3)} for name, n in counter.most_common(TOP)
        ]

    return {
        "samples": samples,
        "by_package": share(packages),
        "self": share(own),
        "inferline": share(ours),
    }


def _frame(text: str) -> tuple[str, str]:
    """`func (package/module.py:12)` → (the package, `func (module.py)`); py-spy names a
    file by its import path, so a standard-library module has no package folder."""
    name, _, where = text.partition(" (")
    parts = Path(where.rstrip(")").rsplit(":", 1)[0]).parts
    if not parts:  # not a function: `--subprocesses` puts a `process …` frame first
        return "process", name
    if len(parts) < 2 or parts[0] in ("asyncio", "concurrent", "json", "logging", "email"):
        package = "python"
    else:
        package = parts[0]
    return package, f"{name} ({'/'.join(parts[1:]) if package == 'inferline' else parts[-1]})"


def stored_jobs(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return int(connection.execute("SELECT count(*) FROM jobs").fetchone()[0])


def run_server(
    command: str, tmp: Path, name: str, args: argparse.Namespace, results: dict[str, Any]
) -> None:
    db = tmp / f"{name}.db"
    server: ServerProcess = http_server(
        command, sqlite_url(db), tmp / f"{name}.log", models=MODEL, log_level="WARNING"
    )
    server.start().wait_ready()
    accepted = 0
    try:
        hey(f"{server.url}/livez", seconds=2, clients=16)  # warm up
        hey(f"{server.url}/api/v1/jobs", seconds=2, clients=16, body=BODY)
        accepted += stored_jobs(db)
        runs: list[dict[str, Any]] = []
        if command == "serve":
            for clients in args.clients:
                print(f"{name}: GET /livez, {clients} clients ...", file=sys.stderr)
                row = hey(f"{server.url}/livez", seconds=args.seconds, clients=clients)
                runs.append({"route": "GET /livez", **row})
        for index, clients in enumerate(args.clients):
            print(f"{name}: POST /api/v1/jobs, {clients} clients ...", file=sys.stderr)
            spy = None
            raw = tmp / f"{name}-{clients}.raw"
            if index == 0:
                spy = profile(server.process.pid, args.seconds - 1, raw)
            row = hey(f"{server.url}/api/v1/jobs", seconds=args.seconds, clients=clients, body=BODY)
            runs.append({"route": "POST /api/v1/jobs", **row})
            accepted += row["statuses"].get("202", 0)
            if spy is not None:
                spy.wait(timeout=60)
                if raw.exists():
                    profiles = results.setdefault("profiles", {})
                    profiles[name] = {"clients": clients, **hot_functions(raw)}
        results[name] = runs
        results[f"{name}_jobs"] = {"accepted": accepted, "stored": stored_jobs(db)}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="each hey run")
    parser.add_argument("--clients", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    if shutil.which("hey") is None or PY_SPY is None:
        sys.exit("hey and py-spy are needed: apt-get install hey; pip install py-spy")
    results: dict[str, Any] = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_before": os.getloadavg(),
        "seconds_per_run": args.seconds,
    }
    with tempfile.TemporaryDirectory() as tmp:
        run_server("serve", Path(tmp), "serve", args, results)
        run_server("api", Path(tmp), "api_only", args, results)
    results["load_average_after"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
