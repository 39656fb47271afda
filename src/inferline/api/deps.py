"""Request-scoped lookups: the process's data plane and the caller's tenant.

The dependencies are `async def` on purpose: FastAPI runs a plain `def`
dependency in its thread pool, one thread hop per request for a dictionary
lookup. Routes and apps take `PlaneDep` and `TenantDep`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket
from fastapi.requests import HTTPConnection

from inferline.api.auth import principal_of
from inferline.application.auth import Principal
from inferline.application.data_plane import DataPlane


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


async def get_tenant(connection: HTTPConnection) -> str:
    """The caller's tenant: its key's or token's (`api/auth.py`), or the default tenant
    when authentication is off. Every resource a route reads or changes is the tenant's."""
    return principal_of(connection).tenant


async def get_principal(connection: HTTPConnection) -> Principal:
    """The caller: tenant, scopes, identity."""
    return principal_of(connection)


PlaneDep = Annotated[DataPlane, Depends(get_plane)]
WsPlaneDep = Annotated[DataPlane, Depends(ws_plane)]
TenantDep = Annotated[str, Depends(get_tenant)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
