"""Liveness, readiness, component health and Prometheus metrics.

`/livez`, `/readyz` and `/metrics` are public (probes and Prometheus carry no key; no
metric label carries a tenant or a resource id); `/health` names components and
needs `read`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from inferline.api.auth import public
from inferline.api.deps import PlaneDep
from inferline.api.presenters import health_view

router = APIRouter(tags=["operations"])


class Readiness(BaseModel):
    """`/readyz`: `ready`, or `not_ready` with the reasons."""

    status: Literal["ready", "not_ready"]
    reasons: list[str] = []


@router.get("/livez", summary="The process is alive")
@public
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
@public
async def readyz(plane: PlaneDep) -> JSONResponse:
    readiness = plane.readiness()
    if not readiness.ready:
        return JSONResponse({"status": "not_ready", "reasons": readiness.reasons}, 503)
    return JSONResponse({"status": "ready"})


@router.get("/health", summary="Each component's state")
async def health(plane: PlaneDep) -> dict[str, Any]:
    return health_view(plane.health())


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
@public
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
