"""The live dashboard's data: `WS /api/v1/dashboard/ws` (source S2) and an HTTP snapshot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from inferline.api.deps import PlaneDep, TenantDep, WsPlaneDep
from inferline.api.errors import error_responses
from inferline.api.websockets import push_until_disconnected
from inferline.application.data_plane import DataPlane

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])
log = logging.getLogger(__name__)

PUSH_SECONDS = 2.0


@router.get("/snapshot", summary="The dashboard's current figures", responses=error_responses(503))
async def snapshot(plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    """The same message the WebSocket pushes."""
    return await plane.dashboard_snapshot(tenant)


@router.websocket("/ws")
async def dashboard_updates(websocket: WebSocket, plane: WsPlaneDep, tenant: TenantDep) -> None:
    """Pushes `{"type": "update", "timestamp", "recent_results", "statistics", ...}` every 2 s."""
    await websocket.accept()

    async def push() -> None:
        while True:
            await websocket.send_json(await _message(plane, tenant))
            await asyncio.sleep(PUSH_SECONDS)

    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await push_until_disconnected(websocket, push())


async def _message(plane: DataPlane, tenant: str) -> dict[str, Any]:
    try:
        return await plane.dashboard_snapshot(tenant)
    except Exception as exc:  # the database is away: say so, keep the socket open
        log.warning("dashboard snapshot failed: %s", exc)
        return {"type": "error", "message": f"figures unavailable: {type(exc).__name__}: {exc}"}
