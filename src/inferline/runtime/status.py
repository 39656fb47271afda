"""Short summaries of what this process serves and runs, for the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from inferline.runtime.serving import ModelServer
from inferline.worker.worker import Worker


def model_summaries(models: ModelServer) -> list[dict[str, Any]]:
    """Name, version, loaded state and batching of each model served here."""
    return [
        {
            "name": served.name,
            "version": served.model_class.version,
            "loaded": served.loaded,
            "load_error": served.load_error,
            "load_seconds": served.load_seconds,
            "batching": asdict(served.batching),
        }
        for served in models.models.values()
    ]


def worker_summaries(workers: Sequence[Worker]) -> list[dict[str, Any]]:
    """Liveness of the job workers inside this process."""
    return [
        {
            "id": w.worker_id,
            "alive": w.alive,
            "in_flight": w.inflight,
            "last_claim_at": w.last_claim_at,
        }
        for w in workers
    ]
