"""Request-scoped lookups: the process's container and the caller's tenant.

The dependencies are `async def` on purpose: FastAPI runs a plain `def`
dependency in its thread pool, one thread hop per request for a dictionary
lookup.
"""

from __future__ import annotations

from fastapi import Request, WebSocket

from inferline.bootstrap import Container
from inferline.domain.jobs import DEFAULT_TENANT


def container_of(request: Request) -> Container:
    """The container serving this app (for code that has the request at hand)."""
    container: Container = request.app.state.container
    return container


async def get_container(request: Request) -> Container:
    """Dependency: the container serving this request."""
    return container_of(request)


async def ws_container(websocket: WebSocket) -> Container:
    """Dependency: the container serving this WebSocket."""
    container: Container = websocket.app.state.container
    return container


async def get_tenant() -> str:
    """Every job belongs to a tenant; until authentication lands it is the default one."""
    return DEFAULT_TENANT
