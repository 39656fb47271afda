"""Request-scoped lookups: the process's data plane and the caller's tenant.

The dependencies are `async def` on purpose: FastAPI runs a plain `def`
dependency in its thread pool, one thread hop per request for a dictionary
lookup. Routes and apps take `PlaneDep` and `TenantDep`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket

from inferline.application.data_plane import DataPlane
from inferline.domain.jobs import DEFAULT_TENANT


def plane_of(request: Request) -> DataPlane:
    """The data plane serving this app (for code that has the request at hand)."""
    plane: DataPlane = request.app.state.plane
    return plane


async def get_plane(request: Request) -> DataPlane:
    """Dependency: the data plane serving this request."""
    return plane_of(request)


async def ws_plane(websocket: WebSocket) -> DataPlane:
    """Dependency: the data plane serving this WebSocket."""
    plane: DataPlane = websocket.app.state.plane
    return plane


async def get_tenant() -> str:
    """Every job belongs to a tenant; until authentication lands it is the default one."""
    return DEFAULT_TENANT


PlaneDep = Annotated[DataPlane, Depends(get_plane)]
WsPlaneDep = Annotated[DataPlane, Depends(ws_plane)]
TenantDep = Annotated[str, Depends(get_tenant)]
