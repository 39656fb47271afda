"""The FastAPI application: routers, middleware, error handlers, lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from inferline import __version__
from inferline.api.disconnect import install_disconnect_handler
from inferline.api.errors import install_error_handlers
from inferline.api.middleware import RequestContextMiddleware
from inferline.api.routes import (
    collections,
    dashboard,
    embeddings_s3,
    events,
    health,
    jobs,
    models,
    openai,
    s2,
    ui,
)
from inferline.apps import news
from inferline.apps.news.wiring import STREAM_GROUP, build_news
from inferline.bootstrap import (
    Container,
    Role,
    build_stream_sink,
    build_stream_source,
    news_database,
)
from inferline.core.settings import StreamRoute
from inferline.dashboard import BUILD_HINT, is_built
from inferline.ports.streams import StreamSource
from inferline.worker.worker import new_worker_id

log = logging.getLogger(__name__)


def create_app(container: Container) -> FastAPI:
    """An app serving `container`; the lifespan starts and stops it."""

    settings = container.settings

    def news_source(topic: str, member: str) -> StreamSource:
        return build_stream_source(settings, StreamRoute(topic=topic, model=STREAM_GROUP), member)

    async def models_settled() -> None:
        """Every model loaded (or failed to): the news processor analyses from then on."""
        while not all(m.loaded or m.load_error for m in container.models.models.values()):
            await asyncio.sleep(0.1)

    news_stream = build_news(
        settings,
        database=news_database(settings),
        embeddings=container.embeddings,
        registry=container.metrics.registry,
        cache=container.cache if settings.cache_url.startswith(("redis:", "rediss:")) else None,
        chat=None,
        background=Role.STREAMS in container.roles,
        member=new_worker_id(),
        broker_sink=build_stream_sink(settings),
        broker_source=news_source,
        wait_ready=models_settled,
    )
    container.connections.add("news", news_stream.start)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await container.start()
        try:
            yield
        finally:
            await news_stream.stop()
            await container.stop()

    app = FastAPI(
        title="Inferline",
        version=__version__,
        description="Asynchronous AI inference: durable jobs and micro-batched models.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.news = news_stream
    if not is_built():
        log.warning("the dashboard is not built; / shows how to build it: %s", BUILD_HINT)
    install_error_handlers(app)
    install_disconnect_handler(app)
    # The embedding routes first: they are the hottest, and routes are matched in order.
    for module in (embeddings_s3, openai, collections):
        app.include_router(module.router)
    for module in (jobs, models, s2, events, dashboard, health, ui):
        app.include_router(module.router)
    app.include_router(news.router)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=container.metrics,
        max_body_bytes=container.settings.max_body_bytes,
        access_log=container.settings.access_log,
    )
    return app
