"""Presenters: models, workers, API keys and the process as JSON, each shape written once.

(A job's JSON is `domain.jobs.job_view`: the outbox stores it as the event payload.)
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from inferline import __version__
from inferline.application.data_plane import ProcessHealth, QueueCounts
from inferline.ports.auth import StoredKey
from inferline.ports.process import WorkerState
from inferline.ports.serving import ServedModel


def model_view(served: ServedModel, queue: QueueCounts) -> dict[str, Any]:
    """Name, version, schemas, batching and state of one model (`/api/v1/models`)."""
    cls = served.model_class
    return {
        "name": cls.name,
        "version": cls.version,
        "description": cls.description,
        "aliases": list(cls.aliases),
        "loaded": served.loaded,
        "load_error": served.load_error,
        "load_seconds": served.load_seconds,
        "input_schema": cls.input_schema.model_json_schema(),
        "output_schema": cls.output_schema.model_json_schema(),
        "batching": batching_view(served),
        "queue": {"waiting": queue.waiting, "running": queue.running},
    }


def model_summary(served: ServedModel) -> dict[str, Any]:
    """Name, version, loaded state and batching of one model (the dashboard's)."""
    return {
        "name": served.name,
        "version": served.model_class.version,
        "loaded": served.loaded,
        "load_error": served.load_error,
        "load_seconds": served.load_seconds,
        "batching": batching_view(served),
    }


def batching_view(served: ServedModel) -> dict[str, Any]:
    """The model's batching limits, the profile they come from and the strategy they make."""
    return {**asdict(served.batching), "strategy": served.batching.strategy}


def model_health(served: ServedModel) -> dict[str, Any]:
    """One model as a component of `/health`."""
    return {
        "loaded": served.loaded,
        "error": served.load_error,
        "load_seconds": served.load_seconds,
        "pending": served.pending,
    }


def worker_view(worker: WorkerState, *, with_alive: bool = True) -> dict[str, Any]:
    """A job worker of this process; `/health` has always shown it without `alive`."""
    view: dict[str, Any] = {"id": worker.worker_id}
    if with_alive:
        view["alive"] = worker.alive
    view["in_flight"] = worker.in_flight
    view["last_claim_at"] = worker.last_claim_at
    return view


def health_view(health: ProcessHealth) -> dict[str, Any]:
    """`/health`: each component's state."""
    database = health.database
    components: dict[str, Any] = {
        "database": {
            "ok": database.database_ok,
            "error": database.database_error,
            "checked_at": database.checked_at,
        },
        "models": {m.name: model_health(m) for m in health.models},
    }
    if health.workers:
        components["workers"] = [worker_view(w, with_alive=False) for w in health.workers]
    if health.relay_published is not None:
        components["relay"] = {"published": health.relay_published}
    if health.domain_events is not None:
        components["domain_events"] = dict(health.domain_events)
    return {
        "status": "ok" if health.ready else "degraded",
        "version": __version__,
        "roles": health.roles,
        "uptime_seconds": round(time.time() - health.started_at, 3),
        "components": components,
    }


def key_view(key: StoredKey) -> dict[str, Any]:
    """An API key as shown (`/api/v1/keys`, `inferline keys`): never its secret nor its hash."""
    return {
        "id": key.id,
        "prefix": key.prefix,
        "tenant": key.tenant,
        "scopes": sorted(key.scopes),
        "name": key.name,
        "created_at": _iso(key.created_at),
        "expires_at": _iso(key.expires_at),
        "revoked_at": _iso(key.revoked_at),
        "rate_limit": key.rate_limit,
        "max_concurrent_jobs": key.max_concurrent_jobs,
    }


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()
