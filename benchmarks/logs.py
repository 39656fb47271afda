"""Source S4's log analysis, end to end: lines/s through the Forward protocol to stored
templates, and the time from the first line of a new incident to its Slack message.

One `inferline serve` (Forward server, ingest, the `logs.raw` consumer with Drain, the
archive, incidents, MiniLM for the incident memory) on a fresh SQLite file; a local HTTP
receiver plays Slack's incoming webhook. The clock runs from the first byte sent until
`GET /api/v1/logs/templates` (read the way a user reads it) counts every line.

- **Forward, PackedForward** (what Fluent Bit sends: 1,000 records a frame, waiting for
  each chunk's ack) and **Message mode** (the official `fluent-logger`, one record a frame).
- **Baseline, same run**: Drain (drain3, the same masks) mining the same lines in this
  process with nothing else, the ceiling of the pipeline on this machine.
- **Incident to Slack**: `--incidents` new error templates, one at a time; the time from
  the send of its first line to the webhook's receipt of the message naming it.
- **Readers under ingest**: `--readers` HTTP clients (a process of their own) each read,
  every `--reader-interval` s (0: back to back), what a dashboard and an operator read
  (templates, incidents, dead letters, the dashboard's snapshot), first alone (the
  baseline), then while a PackedForward run ingests `--lines` lines: answers/s and
  latency both ways, and the ingest's lines/s with readers against without.

    python benchmarks/logs.py --out benchmarks/results/logs.json
    python benchmarks/logs.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import msgpack
from fluent import sender as fluent_sender

from inferline.apps.logs.templates import MinerConfig, TemplateMiners
from inferline.testing.mixed_load import percentile
from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import free_port, http_server, sqlite_url

SERVICES = ("auth", "search", "catalog", "checkout", "payments", "shipping")
KINDS = (
    "request {i} served in {ms} ms",
    "user {u} logged in from 10.0.{a}.{b}",
    "cache miss for key product:{i}",
    "GET /api/v2/items/{i} 200 {ms}ms",
    "order {i} moved to state shipped",
    "retrying call to inventory after {ms} ms (attempt {n})",
)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def record(i: int) -> dict[str, Any]:
    text = KINDS[i % len(KINDS)].format(
        i=i, ms=i % 997, u=i % 5000, a=i % 250, b=i % 200, n=i % 5 + 1
    )
    return {"service": SERVICES[i % len(SERVICES)], "level": "info", "message": text}


class Webhook(BaseHTTPRequestHandler):
    """Slack's incoming webhook, played locally: records (arrival time, body)."""

    received: list[tuple[float, dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Webhook.received.append((time.monotonic(), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return


def packed_forward(port: int, start: int, count: int, chunk: int = 1000) -> None:
    """Fluent Bit's way: PackedForward frames of `chunk` records, each acknowledged."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(120)
        unpacker = msgpack.Unpacker()
        for first in range(start, start + count, chunk):
            now = time.time()
            entries = b"".join(
                msgpack.packb([now, record(i)])
                for i in range(first, min(first + chunk, start + count))
            )
            token = f"c{first}"
            conn.sendall(msgpack.packb(["bench", entries, {"chunk": token, "size": chunk}]))
            while True:
                data = conn.recv(4096)
                if not data:
                    raise ConnectionError("the server closed the connection")
                unpacker.feed(data)
                acks = [m for m in unpacker if isinstance(m, dict)]
                if any(a.get("ack") == token for a in acks):
                    break


def message_mode(port: int, start: int, count: int) -> None:
    sender = fluent_sender.FluentSender("bench", host="127.0.0.1", port=port, timeout=60)
    try:
        for i in range(start, start + count):
            if not sender.emit("log", record(i)):
                raise ConnectionError(str(sender.last_error))
    finally:
        sender.close()


def stored_lines(client: httpx.Client) -> int:
    templates = json_answer(client.get("/api/v1/logs/templates", params={"limit": 1000}))
    return sum(t["count"] for t in templates["templates"])


def through(client: httpx.Client, send: Any, port: int, start: int, count: int) -> dict[str, Any]:
    before = stored_lines(client)
    began = time.perf_counter()
    send(port, start, count)
    sent = time.perf_counter() - began
    poll_until(
        lambda: stored_lines(client),
        f"{count} lines in the templates",
        timeout=600,
        interval=0.2,
        accept=lambda n: n >= before + count,
    )
    total = time.perf_counter() - began
    return {
        "lines": count,
        "send_seconds": round(sent, 2),
        "end_to_end_seconds": round(total, 2),
        "lines_per_second": round(count / total),
    }


READS = (
    "/api/v1/logs/templates?limit=20",
    "/api/v1/logs/incidents?limit=20",
    "/api/v1/logs/dead-letters?limit=20",
    "/api/v1/dashboard/snapshot",
)


def _read_until_stopped(url: str, clients: int, interval: float, stop: Any, out: Any) -> None:
    """In a child process: `clients` loops over READS, each starting a read every
    `interval` s (0: one after the other), until `stop` is set; puts (latencies in s,
    statuses other than 200, seconds) on `out`."""

    async def main() -> tuple[list[float], list[int], float]:
        latencies: list[float] = []
        failures: list[int] = []
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

            async def reader(k: int) -> None:
                await asyncio.sleep(interval * k / clients)  # spread over the interval
                while not stop.is_set():
                    began = time.perf_counter()
                    answer = await client.get(READS[k % len(READS)])
                    latencies.append(time.perf_counter() - began)
                    if answer.status_code != 200:
                        failures.append(answer.status_code)
                    k += 1
                    await asyncio.sleep(max(0.0, began + interval - time.perf_counter()))

            began = time.perf_counter()
            await asyncio.gather(*(reader(k) for k in range(clients)))
            return latencies, failures, time.perf_counter() - began

    out.put(asyncio.run(main()))


def read_during(url: str, clients: int, interval: float, work: Any) -> tuple[dict[str, Any], Any]:
    """Run `work()` while `clients` readers read; their figures and `work`'s answer."""
    context = multiprocessing.get_context("spawn")
    stop, out = context.Event(), context.Queue()
    readers = context.Process(target=_read_until_stopped, args=(url, clients, interval, stop, out))
    readers.start()
    try:
        answer = work()
    finally:
        stop.set()
    latencies, failures, seconds = out.get(timeout=120)
    readers.join(timeout=30)
    figures = {
        "clients": clients,
        "interval_seconds": interval,
        "answers": len(latencies),
        "answers_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "not_200": len(failures),
    }
    return figures, answer


def readers_under_ingest(
    client: httpx.Client,
    port: int,
    args: argparse.Namespace,
    alone: dict[str, Any],
) -> dict[str, Any]:
    """The readers alone (as long as the ingest took alone), then during an ingest."""
    url, clients, interval = str(client.base_url), args.readers, args.reader_interval
    quiet, _ = read_during(url, clients, interval, lambda: time.sleep(alone["end_to_end_seconds"]))
    print("readers alone", quiet, file=sys.stderr)
    busy, ingest = read_during(
        url,
        clients,
        interval,
        lambda: through(client, packed_forward, port, 30_000_000, args.lines),
    )
    print("readers under ingest", busy, ingest, file=sys.stderr)
    return {
        "readers_alone": quiet,
        "readers_under_ingest": busy,
        "ingest_with_readers": ingest,
        "ingest_with_readers_to_alone": round(
            ingest["lines_per_second"] / alone["lines_per_second"], 3
        ),
        "reader_answers_under_ingest_to_alone": round(
            busy["answers_per_second"] / quiet["answers_per_second"], 3
        ),
    }


def drain_baseline(count: int) -> dict[str, Any]:
    miners = TemplateMiners(MinerConfig())
    miner = miners.miner("default")
    messages = [record(i)["message"] for i in range(count)]
    began = time.perf_counter()
    for message in messages:
        miner.mine(message, with_parameters=False)
    seconds = time.perf_counter() - began
    return {
        "lines": count,
        "seconds": round(seconds, 2),
        "lines_per_second": round(count / seconds),
    }


def alerts_about(service: str) -> list[float]:
    """When the webhook received messages naming `service`."""
    return [at for at, body in Webhook.received if service in json.dumps(body)]


def incident_latency(client: httpx.Client, port: int, incidents: int) -> dict[str, Any]:
    """New incidents one at a time: send → the webhook's receipt of the message."""
    waits: list[float] = []
    for k in range(incidents):
        service = f"billing-{k}"
        Webhook.received.clear()
        began = time.monotonic()
        sender = fluent_sender.FluentSender("bench", host="127.0.0.1", port=port, timeout=30)
        try:
            sender.emit(
                "log",
                {"service": service, "level": "error", "message": f"ledger {k} rejected entry"},
            )
        finally:
            sender.close()
        arrivals = poll_until(
            functools.partial(alerts_about, service),
            f"the alert of incident {k}",
            timeout=120,
            interval=0.01,
        )
        arrived = arrivals[0]
        waits.append(arrived - began)
    waits.sort()
    return {
        "incidents": incidents,
        "p50_ms": round(statistics.median(waits) * 1000),
        "p95_ms": round(waits[max(0, int(len(waits) * 0.95) - 1)] * 1000),
        "max_ms": round(waits[-1] * 1000),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    hook = ThreadingHTTPServer(("127.0.0.1", free_port()), Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    workdir = Path(tempfile.mkdtemp(prefix="inferline-logs-bench-"))
    port = free_port()
    server = http_server(
        "serve",
        sqlite_url(workdir / "inferline.db"),
        workdir / "server.log",
        "--workers-in-process",
        "0",
        models="minilm",
        access_log="false",
        logs_forward_port=str(port),
        logs_forward_host="127.0.0.1",
        slack_webhook_url=f"http://127.0.0.1:{hook.server_address[1]}/services/T0/B0/bench",
        alert_window_seconds="60",
        vector_path=str(workdir / "vectors"),
    )
    server.start().wait_ready(timeout=180)
    results: dict[str, Any] = {"machine_before": machine()}
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            through(client, packed_forward, port, 0, 2_000)  # warm-up: tables, miners
            results["packed_forward"] = through(
                client, packed_forward, port, 10_000_000, args.lines
            )
            print("PackedForward", results["packed_forward"], file=sys.stderr)
            results["message_mode"] = through(
                client, message_mode, port, 20_000_000, args.message_lines
            )
            print("Message mode", results["message_mode"], file=sys.stderr)
            results["incident_to_slack"] = incident_latency(client, port, args.incidents)
            print("incident → Slack", results["incident_to_slack"], file=sys.stderr)
            if args.readers:
                results["readers"] = readers_under_ingest(
                    client, port, args, results["packed_forward"]
                )
    finally:
        server.stop()
        hook.shutdown()
    results["drain_alone"] = drain_baseline(args.lines)
    results["ratio_to_drain_alone"] = round(
        results["packed_forward"]["lines_per_second"] / results["drain_alone"]["lines_per_second"],
        3,
    )
    results["machine_after"] = machine()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--message-lines", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument(
        "--readers", type=int, default=16, help="HTTP readers during an ingest (0: none)"
    )
    parser.add_argument(
        "--reader-interval",
        type=float,
        default=0.25,
        help="seconds between the starts of one reader's reads (0: back to back)",
    )
    args = parser.parse_args()
    if args.quick:
        args.lines, args.message_lines, args.incidents = 20_000, 5_000, 5
    results = run(args)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
