"""`WS /api/v1/events`: every job state change, live."""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, WebSocket, WebSocketDisconnect

from inferline.api.deps import get_tenant, ws_container
from inferline.api.websockets import push_until_disconnected
from inferline.bootstrap import Container

router = APIRouter(tags=["events"])
log = logging.getLogger(__name__)


@router.websocket("/api/v1/events")
async def job_events(
    websocket: WebSocket,
    container: Annotated[Container, Depends(ws_container)],
    tenant: Annotated[str, Depends(get_tenant)],
    model: Annotated[str | None, Query(max_length=128)] = None,
    job_id: Annotated[str | None, Query(max_length=36)] = None,
) -> None:
    """Sends `{"type": "job.<status>", "seq", "job": {...}}`.

    Filter with `?model=` or `?job_id=`."""
    await websocket.accept()
    model_name = container.registry.canonical(model) if model else None
    subscription = container.bus.subscribe()

    async def push() -> None:
        async for event in subscription:
            if event.tenant != tenant:
                continue
            if (model_name and event.model != model_name) or (job_id and event.job_id != job_id):
                continue
            await websocket.send_json({"type": event.type, "seq": event.seq, "job": event.job})

    try:
        await push_until_disconnected(websocket, push())
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        with contextlib.suppress(Exception):
            await subscription.aclose()  # type: ignore[attr-defined]
