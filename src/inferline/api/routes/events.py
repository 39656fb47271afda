"""`WS /api/v1/events`: every job state change, live."""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from inferline.api.deps import TenantDep, WsPlaneDep
from inferline.api.websockets import push_until_disconnected

router = APIRouter(tags=["events"])
log = logging.getLogger(__name__)


@router.websocket("/api/v1/events")
async def job_events(
    websocket: WebSocket,
    plane: WsPlaneDep,
    tenant: TenantDep,
    model: Annotated[str | None, Query(max_length=128)] = None,
    job_id: Annotated[str | None, Query(max_length=36)] = None,
) -> None:
    """Sends `{"type": "job.<status>", "seq", "job": {...}}`.

    Filter with `?model=` or `?job_id=`."""
    await websocket.accept()
    subscription = plane.subscribe(tenant, model=model, job_id=job_id)

    async def push() -> None:
        async for event in subscription:
            await websocket.send_json({"type": event.type, "seq": event.seq, "job": event.job})

    try:
        await push_until_disconnected(websocket, push())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        with contextlib.suppress(Exception):
            await subscription.aclose()
