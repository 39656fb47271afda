"""The live dashboard's figures: one snapshot every few seconds, read from the shared store.

Everything about jobs (totals, throughput, latency percentiles, queue depth, workers
holding jobs) comes from the database, so it is right when the API, the workers and
the relay are separate processes. Figures only a process can know (batch sizes, cache
hits) are read from this process's metrics and marked `"scope": "process"`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from inferline.application.admission import QueueDepths
from inferline.domain.jobs import JobEvent, JobStatus, iso_time
from inferline.ports.metrics import UseCaseMetrics
from inferline.ports.store import DashboardStore

WorkerStatus = Callable[[], list[dict[str, Any]]]

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """How much history the dashboard looks at."""

    window_seconds: float = 60.0
    recent_results: int = 20
    max_window_events: int = 5000
    cache_seconds: float = 1.0
    worker_timeout_seconds: float = 15.0  # a worker beats every lease/3; silent longer = gone


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil without floats drifting
    return round(sorted_values[min(len(sorted_values), int(rank)) - 1], 6)


def _seconds(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


@dataclass
class _Window:
    """Jobs of one model (or all) finished within the window: exact counts by final
    status, and latencies from the newest `max_window_events` of them."""

    succeeded: int = 0
    dead: int = 0
    expired: int = 0
    latencies: list[float] = field(default_factory=list)
    queue_waits: list[float] = field(default_factory=list)

    def count(self, status: str, number: int) -> None:
        if status == JobStatus.SUCCEEDED.value:
            self.succeeded += number
        elif status == JobStatus.DEAD.value:
            self.dead += number
        else:
            self.expired += number

    def sample(self, event: JobEvent) -> None:
        if event.status is not JobStatus.SUCCEEDED:
            return
        created = _seconds(event.job.get("created_at"))
        started = _seconds(event.job.get("started_at"))
        finished = _seconds(event.job.get("finished_at"))
        if created is not None and finished is not None:
            self.latencies.append(max(0.0, finished - created))
        if created is not None and started is not None:
            self.queue_waits.append(max(0.0, started - created))

    def figures(self, seconds: float) -> dict[str, Any]:
        finished = self.succeeded + self.dead + self.expired
        latencies, waits = sorted(self.latencies), sorted(self.queue_waits)
        return {
            "finished": finished,
            "succeeded": self.succeeded,
            "failed": self.dead + self.expired,
            "jobs_per_second": round(finished / seconds, 3),
            "success_rate": round(self.succeeded / finished, 4) if finished else None,
            "latency_seconds": {f"p{p}": percentile(latencies, p) for p in PERCENTILES},
            "queue_wait_seconds": {f"p{p}": percentile(waits, p) for p in PERCENTILES},
        }


class DashboardService:
    """Builds source S2's dashboard `update` message, with Inferline's extra figures."""

    def __init__(
        self,
        store: DashboardStore,
        depths: QueueDepths,
        metrics: UseCaseMetrics,
        models: Callable[[], list[dict[str, Any]]],
        workers: WorkerStatus,
        config: DashboardConfig | None = None,
    ) -> None:
        self.store = store
        self.depths = depths
        self.metrics = metrics
        self.models = models
        self.workers = workers
        self.config = config or DashboardConfig()
        self._cached: dict[str | None, tuple[float, dict[str, Any]]] = {}

    async def snapshot(self, tenant: str | None) -> dict[str, Any]:
        """The current figures; shared by every viewer for `cache_seconds`."""
        now = time.time()
        cached = self._cached.get(tenant)
        if cached is not None and now - cached[0] < self.config.cache_seconds:
            return cached[1]
        message = await self._build(tenant, now)
        self._cached[tenant] = (now, message)
        return message

    async def _build(self, tenant: str | None, now: float) -> dict[str, Any]:
        cfg = self.config
        totals = await self.store.status_totals(tenant)
        recent = await self.store.finished_events(tenant, limit=cfg.recent_results)
        since = now - cfg.window_seconds
        counts = await self.store.finished_counts(tenant, since)
        samples = await self.store.finished_events(tenant, since=since, limit=cfg.max_window_events)
        overall = _Window()
        per_model: dict[str, _Window] = {}
        for model, by_status in counts.items():
            for status, number in by_status.items():
                overall.count(status, number)
                per_model.setdefault(model, _Window()).count(status, number)
        for event in samples:
            overall.sample(event)
            per_model.setdefault(event.model, _Window()).sample(event)
        workers_with_leases = await self.store.active_workers()
        live = await self.store.live_workers(since=now - cfg.worker_timeout_seconds)
        return {
            "type": "update",
            "timestamp": iso_time(now),
            "recent_results": [_result(e) for e in recent],
            "statistics": _statistics(totals),
            "window": {"seconds": cfg.window_seconds, **overall.figures(cfg.window_seconds)},
            "models": self._model_figures(per_model),
            "workers": {
                "live": [
                    {
                        "id": w.id,
                        "host": w.host,
                        "pid": w.pid,
                        "models": w.models,
                        "in_flight": w.in_flight,
                        "heartbeat_at": iso_time(w.heartbeat_at),
                        "started_at": iso_time(w.started_at),
                    }
                    for w in live
                ],
                "holding_jobs": [
                    {"id": w, "jobs": n} for w, n in sorted(workers_with_leases.items())
                ],
                "in_process": self.workers(),
            },
            "process": {
                "scope": "process",
                **process_figures(self.metrics),
                "streams": stream_figures(self.metrics),
            },
        }

    def _model_figures(self, per_model: dict[str, _Window]) -> list[dict[str, Any]]:
        figures = []
        for model in self.models():
            name = model["name"]
            window = per_model.get(name, _Window())
            figures.append(
                {
                    **model,
                    "queue_depth": self.depths.waiting.get(name, 0),
                    "in_flight": self.depths.running.get(name, 0),
                    **window.figures(self.config.window_seconds),
                }
            )
        return figures


def _statistics(totals: dict[str, int]) -> dict[str, Any]:
    """Source S2's statistics: completed = succeeded, failed = gave up (dead or expired)."""
    completed = totals.get(JobStatus.SUCCEEDED.value, 0)
    failed = totals.get(JobStatus.DEAD.value, 0) + totals.get(JobStatus.EXPIRED.value, 0)
    finished = completed + failed
    return {
        "total_jobs": sum(totals.values()),
        "completed": completed,
        "failed": failed,
        "success_rate": round(completed / finished, 4) if finished else None,
        "queued": totals.get(JobStatus.QUEUED.value, 0),
        "running": totals.get(JobStatus.RUNNING.value, 0),
        "retrying": totals.get(JobStatus.FAILED.value, 0),
        "cancelled": totals.get(JobStatus.CANCELLED.value, 0),
        "by_status": {s.value: totals.get(s.value, 0) for s in JobStatus},
    }


def _result(event: JobEvent) -> dict[str, Any]:
    job = event.job
    created, finished = _seconds(job.get("created_at")), _seconds(job.get("finished_at"))
    latency = finished - created if created is not None and finished is not None else None
    return {
        "job_id": event.job_id,
        "model_name": event.model,
        "status": event.status.value,
        "result": job.get("result"),
        "error": job.get("error"),
        "attempts": job.get("attempts"),
        "created_at": job.get("created_at"),
        "completed_at": job.get("finished_at"),
        "latency_seconds": round(latency, 6) if latency is not None else None,
    }


def process_figures(metrics: UseCaseMetrics) -> dict[str, Any]:
    """Batch sizes and cache hits seen by this process, read from its metrics."""
    sums: dict[str, dict[str, float]] = {}
    cache = {"hits": 0.0, "misses": 0.0}
    for sample in metrics.samples():
        if sample.name in ("inferline_batch_size_sum", "inferline_batch_size_count"):
            kind = sample.name.rsplit("_", 1)[1]
            model = sample.labels.get("model", "")
            sums.setdefault(model, {"sum": 0.0, "count": 0.0})[kind] += sample.value
        elif sample.name.startswith("inferline_cache_hits") and sample.name.endswith("_total"):
            cache["hits"] += sample.value
        elif sample.name.startswith("inferline_cache_misses") and sample.name.endswith("_total"):
            cache["misses"] += sample.value
    lookups = cache["hits"] + cache["misses"]
    return {
        "mean_batch_size": {
            m: round(v["sum"] / v["count"], 3) for m, v in sums.items() if v["count"]
        },
        "batches": {m: int(v["count"]) for m, v in sums.items()},
        "cache": {
            "hits": int(cache["hits"]),
            "misses": int(cache["misses"]),
            "hit_rate": round(cache["hits"] / lookups, 4) if lookups else None,
        },
    }


STREAM_SAMPLES = {
    "inferline_stream_records_in_total": "records_in",
    "inferline_stream_records_out_total": "records_out",
    "inferline_stream_dead_lettered_total": "dead_lettered",
    "inferline_stream_lag": "lag",
}


def stream_figures(metrics: UseCaseMetrics) -> list[dict[str, Any]]:
    """Per input topic of this process's stream routes: records in, results out, dead
    letters, and the consumer lag (summed over partitions, and per partition)."""
    topics: dict[str, dict[str, Any]] = {}
    for sample in metrics.samples():
        figure = STREAM_SAMPLES.get(sample.name)
        if figure is None:
            continue
        topic = sample.labels["topic"]
        row = topics.setdefault(
            topic,
            {
                "topic": topic,
                "records_in": 0,
                "records_out": 0,
                "dead_lettered": 0,
                "lag": 0,
                "lag_by_partition": {},
            },
        )
        row[figure] += int(sample.value)
        if figure == "lag":
            row["lag_by_partition"][sample.labels["partition"]] = int(sample.value)
    return [topics[topic] for topic in sorted(topics)]
