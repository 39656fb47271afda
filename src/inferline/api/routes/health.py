"""Liveness, readiness, component health and Prometheus metrics."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from inferline import __version__
from inferline.api.deps import get_container
from inferline.bootstrap import Container

router = APIRouter(tags=["operations"])


class Readiness(BaseModel):
    """`/readyz`: `ready`, or `not_ready` with the reasons."""

    status: Literal["ready", "not_ready"]
    reasons: list[str] = []


ContainerDep = Annotated[Container, Depends(get_container)]


def not_ready_reasons(container: Container) -> list[str]:
    """Why the process should not get traffic yet (empty when ready)."""
    reasons = container.connections.problems()
    database_listed = any(r.startswith("database:") for r in reasons)
    if not container.monitor.database_ok and not database_listed:
        reasons.append(f"database: {container.monitor.database_error or 'not checked yet'}")
    for served in container.models.models.values():
        if served.load_error:
            reasons.append(f"model {served.name}: failed to load: {served.load_error}")
        elif not served.loaded:
            reasons.append(f"model {served.name}: loading")
    return reasons


@router.get("/livez", summary="The process is alive")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Models are loaded and the database answers",
    responses={
        200: {"model": Readiness, "description": "Ready for traffic."},
        503: {"model": Readiness, "description": "Not ready: `reasons` says why."},
    },
)
async def readyz(container: ContainerDep) -> JSONResponse:
    reasons = not_ready_reasons(container)
    if reasons or not container.ready:
        return JSONResponse({"status": "not_ready", "reasons": reasons or ["starting"]}, 503)
    return JSONResponse({"status": "ready"})


@router.get("/health", summary="Each component's state")
async def health(container: ContainerDep) -> dict[str, Any]:
    monitor = container.monitor
    relay = container.relay
    components: dict[str, Any] = {
        "database": {
            "ok": monitor.database_ok,
            "error": monitor.database_error,
            "checked_at": monitor.checked_at,
        },
        "models": {
            m.name: {
                "loaded": m.loaded,
                "error": m.load_error,
                "load_seconds": m.load_seconds,
                "pending": m.batcher.pending if m.batcher else 0,
            }
            for m in container.models.models.values()
        },
    }
    if container.workers:
        components["workers"] = [
            {"id": w.worker_id, "in_flight": w.inflight, "last_claim_at": w.last_claim_at}
            for w in container.workers
        ]
    if relay is not None:
        components["relay"] = {"published": relay.published}
    return {
        "status": "ok" if container.ready else "degraded",
        "version": __version__,
        "roles": sorted(container.roles),
        "uptime_seconds": round(time.time() - container.started_at, 3),
        "components": components,
    }


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def metrics(container: ContainerDep) -> Response:
    return Response(generate_latest(container.metrics.registry), media_type=CONTENT_TYPE_LATEST)
