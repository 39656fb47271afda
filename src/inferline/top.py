"""`inferline top`: the dashboard's live figures in a terminal (Rich), for servers without
a browser.

It reads the same `WS /api/v1/dashboard/ws` feed as the web dashboard and reconnects
by itself, with backoff, when the server goes away.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from inferline.core.credentials import client_headers

NONE = "-"
STATUS_STYLES = {"succeeded": "green", "dead": "red", "expired": "red", "cancelled": "dim"}


def fetch_snapshot(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """One dashboard message from a running server, over HTTP."""
    response = httpx.get(
        f"{url.rstrip('/')}/api/v1/dashboard/snapshot", timeout=timeout, headers=client_headers()
    )
    response.raise_for_status()
    snapshot: dict[str, Any] = response.json()
    return snapshot


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _pct(rate: float | None) -> str:
    return NONE if rate is None else f"{rate * 100:.1f} %"


def _summary(update: dict[str, Any]) -> Table:
    stats, window = update["statistics"], update["window"]
    latency = window["latency_seconds"]
    cache = update.get("process", {}).get("cache", {})
    table = Table.grid(padding=(0, 3))
    for _ in range(4):
        table.add_column(style="bold")
        table.add_column()
    table.add_row(
        "Jobs/s",
        f"{window['jobs_per_second']:.2f}",
        "Success rate",
        _pct(stats["success_rate"]),
        "Total jobs",
        str(stats["total_jobs"]),
        "Queued",
        str(stats["queued"]),
    )
    table.add_row(
        "p50",
        _ms(latency["p50"]),
        "p95",
        _ms(latency["p95"]),
        "Completed",
        str(stats["completed"]),
        "Running",
        str(stats["running"]),
    )
    table.add_row(
        "p99",
        _ms(latency["p99"]),
        "Cache hit rate",
        _pct(cache.get("hit_rate")),
        "Failed",
        str(stats["failed"]),
        "Retrying",
        str(stats["retrying"]),
    )
    return table


def _latency_ms(latency: dict[str, float | None]) -> str:
    values = (latency[p] for p in ("p50", "p95", "p99"))
    return "/".join(NONE if v is None else f"{v * 1000:.1f}" for v in values)


def _models(update: dict[str, Any]) -> Table:
    batch = update.get("process", {}).get("mean_batch_size", {})
    table = Table(title="Models", expand=True)
    table.add_column("model", no_wrap=True)
    for column in ("queued", "busy", "jobs/s", "ok", "p50/95/99 ms", "batch"):
        table.add_column(column, justify="right", no_wrap=True)
    for m in update["models"]:
        state = "" if m.get("loaded") else " (not loaded)"
        table.add_row(
            f"{m['name']} v{m.get('version', '?')}{state}",
            str(m["queue_depth"]),
            str(m["in_flight"]),
            f"{m['jobs_per_second']:.2f}",
            _pct(m["success_rate"]),
            _latency_ms(m["latency_seconds"]),
            f"{batch[m['name']]:.1f}" if m["name"] in batch else NONE,
        )
    return table


def _workers(update: dict[str, Any]) -> Table:
    workers = update["workers"]
    table = Table(title="Workers", expand=True)
    table.add_column("worker")
    table.add_column("state")
    table.add_column("jobs held", justify="right")
    local = {w["id"] for w in workers["in_process"]}
    for w in workers["in_process"]:
        state = Text("alive", "green") if w["alive"] else Text("stopped", "red")
        table.add_row(w["id"], state, str(w["in_flight"]))
    for w in workers["holding_jobs"]:
        if w["id"] not in local:
            table.add_row(w["id"], Text("holding a lease", "yellow"), str(w["jobs"]))
    return table


def _recent(update: dict[str, Any], rows: int = 8) -> Table:
    table = Table(title="Recent results", expand=True)
    for column in ("finished", "job", "model", "status", "latency"):
        table.add_column(column)
    for r in update["recent_results"][:rows]:
        style = STATUS_STYLES.get(r["status"], "")
        table.add_row(
            (r["completed_at"] or "")[11:23],
            r["job_id"],
            r["model_name"],
            Text(r["status"], style),
            _ms(r["latency_seconds"]),
        )
    return table


def render(update: dict[str, Any], *, source: str = "") -> RenderableType:
    """One frame of the terminal dashboard for one `update` message."""
    title = f"Inferline  {source}  {update['timestamp']}"
    window = f"last {update['window']['seconds']:.0f} s"
    return Group(
        Panel(_summary(update), title=title, subtitle=f"throughput and latency: {window}"),
        _models(update),
        _workers(update),
        _recent(update),
    )


def _waiting(url: str, reason: str) -> RenderableType:
    return Panel(Text(f"connecting to {url} … ({reason})", style="yellow"), title="Inferline")


def run(url: str, console: Console | None = None) -> None:
    """Show live figures until Ctrl-C; reconnect with backoff when the server goes away."""
    from websockets.sync.client import connect

    ws_url = url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    ws_url += "/api/v1/dashboard/ws"
    attempt = 0
    with Live(_waiting(url, "starting"), console=console, refresh_per_second=4) as live:
        while True:
            try:
                with connect(
                    ws_url, open_timeout=10, additional_headers=client_headers()
                ) as socket:
                    attempt = 0
                    for raw in socket:
                        message = json.loads(raw)
                        if message.get("type") == "update":
                            live.update(render(message, source=url))
            except KeyboardInterrupt:
                return
            except Exception as exc:
                live.update(_waiting(url, f"{type(exc).__name__}: {exc}"))
            delay = min(10.0, 0.5 * 2**attempt) * random.uniform(0.75, 1.25)
            attempt += 1
            time.sleep(delay)
