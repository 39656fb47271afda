"""Request-scoped lookups: the process's container and the caller's tenant."""

from __future__ import annotations

from fastapi import Request, WebSocket

from inferline.bootstrap import Container
from inferline.domain.jobs import DEFAULT_TENANT


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def ws_container(websocket: WebSocket) -> Container:
    container: Container = websocket.app.state.container
    return container


def get_tenant() -> str:
    """Every job belongs to a tenant; until authentication lands it is the default one."""
    return DEFAULT_TENANT
