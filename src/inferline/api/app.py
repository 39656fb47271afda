"""The FastAPI application: routers, apps, middleware, error handlers, lifespan.

The entry point builds the process (`bootstrap.build_container`) and hands this
factory what the API needs of it: the data plane, the lifecycle, the metrics and the
settings, and the apps to serve (`apps/installed.py`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import WebSocketRoute

from inferline import __version__
from inferline.api.auth import authenticate, document_security
from inferline.api.disconnect import install_disconnect_handler
from inferline.api.errors import install_error_handlers
from inferline.api.middleware import RequestContextMiddleware
from inferline.api.routes import (
    chat,
    collections,
    dashboard,
    events,
    health,
    jobs,
    kserve,
    models,
    openai,
    ui,
)
from inferline.api.routes import keys as key_routes
from inferline.application.auth import Authenticator, KeyService
from inferline.application.data_plane import DataPlane
from inferline.core.metrics import Metrics
from inferline.core.settings import Settings
from inferline.dashboard import BUILD_HINT, is_built

log = logging.getLogger(__name__)


class Lifecycle(Protocol):
    """What the app's lifespan starts and stops: the process (`bootstrap.Container`)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class WebApp(Protocol):
    """A source system's package (`apps/<system>/`): its routes under `router`."""

    @property
    def router(self) -> APIRouter: ...


def create_app(
    plane: DataPlane,
    lifecycle: Lifecycle,
    *,
    metrics: Metrics,
    settings: Settings,
    apps: Sequence[WebApp] = (),
    app_services: Mapping[str, object] | None = None,
    auth: Authenticator | None = None,
    keys: KeyService | None = None,
) -> FastAPI:
    """An app serving `plane` and `apps`; the lifespan starts and stops `lifecycle`.
    `app_services` (the apps' own services, by name) go on `app.state` for their routes.
    With `auth`, every route of every router needs a key or token (`api/auth.py`)
    unless it is marked public; without, every caller is the default tenant. `keys`
    serves `/api/v1/keys` (`auth.keys` when authentication is on)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await lifecycle.start()
        try:
            yield
        finally:
            await lifecycle.stop()

    app = FastAPI(
        title="Inferline",
        version=__version__,
        description="Asynchronous AI inference: durable jobs and micro-batched models.",
        lifespan=lifespan,
    )
    app.state.plane = plane
    app.state.metrics = metrics
    app.state.auth = auth
    app.state.keys = keys or (auth.keys if auth is not None else None)
    for name, service in (app_services or {}).items():
        if name in ("plane", "metrics", "auth", "keys"):
            raise ValueError(f"an app service may not be named {name!r}")
        setattr(app.state, name, service)
    if not is_built():
        log.warning("the dashboard is not built; / shows how to build it: %s", BUILD_HINT)
    install_error_handlers(app)
    install_disconnect_handler(app)
    # Routes are matched in order, one after the other: the hottest first. Job
    # submissions and reads (seven routes) ahead of the apps (the embedding routes
    # next), then the rest of the platform's.
    routers = [jobs.router, *(web_app.router for web_app in apps)]
    routers += [
        m.router
        for m in (
            openai,
            kserve,
            collections,
            chat,
            models,
            events,
            dashboard,
            key_routes,
            health,
            ui,
        )
    ]
    _refuse_duplicate_routes(routers)
    # Authentication is the routers' dependency, not each route's: a new route or app is
    # protected without a word (public ones say so with `@public`).
    for router in routers:
        app.include_router(router, dependencies=[Depends(authenticate)])
    document_security(app, routers)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        access_log=settings.access_log,
    )
    return app


def _refuse_duplicate_routes(routers: Sequence[APIRouter]) -> None:
    """An app must not claim a method and path that another router serves: the first
    would shadow the second without a word."""
    seen: set[tuple[str, str]] = set()
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                keys = [(method, route.path) for method in sorted(route.methods or ())]
            elif isinstance(route, APIWebSocketRoute):
                keys = [("WEBSOCKET", route.path)]
            else:
                continue
            for key in keys:
                if key in seen:
                    raise ValueError("two routes serve {} {}".format(*key))
                seen.add(key)


def websocket_paths(app: FastAPI) -> list[str]:
    """Every WebSocket route's path (OpenAPI lists none), through included routers."""

    def walk(routes: Sequence[Any], prefix: str) -> list[str]:
        found: list[str] = []
        for route in routes:
            if isinstance(route, APIWebSocketRoute | WebSocketRoute):
                found.append(prefix + route.path)
            included = getattr(route, "original_router", None)
            if included is not None:  # FastAPI's lazily included router
                context = getattr(route, "include_context", None)
                found += walk(included.routes, prefix + getattr(context, "prefix", ""))
        return found

    return walk(app.routes, "")
