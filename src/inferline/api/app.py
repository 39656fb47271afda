"""The FastAPI application: routers, middleware, error handlers, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from inferline import __version__
from inferline.api.errors import install_error_handlers
from inferline.api.middleware import RequestContextMiddleware
from inferline.api.routes import events, health, jobs, models, s2
from inferline.bootstrap import Container


def create_app(container: Container) -> FastAPI:
    """An app serving `container`; the lifespan starts and stops it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.start()
        try:
            yield
        finally:
            await container.stop()

    app = FastAPI(
        title="Inferline",
        version=__version__,
        description="Asynchronous AI inference: durable jobs and micro-batched models.",
        lifespan=lifespan,
    )
    app.state.container = container
    install_error_handlers(app)
    for module in (jobs, models, s2, events, health):
        app.include_router(module.router)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=container.metrics,
        max_body_bytes=container.settings.max_body_bytes,
    )
    return app
