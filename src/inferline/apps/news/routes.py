"""The news stream's HTTP API: S0's `/inference/single` and `/inference/batch`, and
`/api/v1/news/...` for feeds, articles, similar articles, rejects and the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import (
    APIRouter,
    Depends,
    Path,
    Query,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.encoders import jsonable_encoder
from fastapi.requests import HTTPConnection
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import WebSocketException
from starlette.status import WS_1008_POLICY_VIOLATION

from inferline.api.deps import TenantDep
from inferline.api.errors import error_responses
from inferline.api.websockets import push_until_disconnected
from inferline.apps.news.models import AnalyzedNewsArticle, RawNewsArticle
from inferline.apps.news.service import NewsService
from inferline.apps.news.store import ArticleFilter, Feed
from inferline.apps.news.text import canonical_url, storable, to_utc
from inferline.domain.errors import InvalidInput, NotFound, Unavailable

log = logging.getLogger(__name__)


async def news_owner(connection: HTTPConnection, tenant: TenantDep) -> None:
    """The news stream is one tenant's (INFERLINE_NEWS_TENANT): for any other it does
    not exist (404; a WebSocket handshake is refused)."""
    news = getattr(connection.app.state, "news", None)
    if news is None or tenant == news.news_settings.tenant:
        return
    if connection.scope["type"] == "websocket":
        raise WebSocketException(WS_1008_POLICY_VIOLATION, "no news stream for this tenant")
    raise NotFound("no news stream for this tenant")


router = APIRouter(tags=["news (source S0)"], dependencies=[Depends(news_owner)])

MAX_BATCH_ARTICLES = 100
PUSH_SECONDS = 2.0
Sentiment = Literal["positive", "neutral", "negative"]


async def get_news(request: Request) -> NewsService:
    """Dependency: the news service of this process."""
    news = getattr(request.app.state, "news", None)
    if news is None:
        raise Unavailable("the news stream is not running in this process", retry_after=1.0)
    service: NewsService = news.service
    return service


NewsDep = Annotated[NewsService, Depends(get_news)]
ArticleId = Annotated[UUID, Path(description="The article's id.")]


class FeedRequest(BaseModel):
    """`POST /api/v1/news/feeds`: a feed to poll every `interval_seconds`."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [{"url": "https://news.example.com/rss.xml", "interval_seconds": 300}]
        },
    )

    url: str = Field(min_length=1, max_length=2048, description="An http(s) RSS or Atom feed.")
    interval_seconds: float = Field(default=300.0, ge=1, le=7 * 24 * 3600)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return canonical_url(storable(value))


class BatchRequest(BaseModel):
    """`POST /inference/batch`: 1 to 100 articles."""

    model_config = ConfigDict(extra="forbid")

    articles: list[RawNewsArticle] = Field(min_length=1, max_length=MAX_BATCH_ARTICLES)


def _feed_view(feed: Feed) -> dict[str, Any]:
    backoff = (
        round(feed.next_poll_at - feed.last_polled_at, 3)
        if feed.failures and feed.last_polled_at is not None
        else 0.0
    )
    return {
        "id": feed.id,
        "url": feed.url,
        "interval_seconds": feed.interval_seconds,
        "created_at": _iso(feed.created_at),
        "last_polled_at": _iso(feed.last_polled_at),
        "last_success_at": _iso(feed.last_success_at),
        "next_poll_at": _iso(feed.next_poll_at),
        "last_error": feed.last_error,
        "failures": feed.failures,
        "backoff_seconds": backoff,
        "articles_published": feed.articles_published,
        "entries_rejected_last_poll": feed.entries_rejected,
    }


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return to_utc(seconds).isoformat()


def _article(view: AnalyzedNewsArticle) -> dict[str, Any]:
    return view.model_dump(mode="json")


@router.post(
    "/inference/single",
    summary="Analyse one article now (and store it)",
    responses=error_responses(413, 422, 429, 503),
)
async def analyse_single(article: RawNewsArticle, news: NewsDep) -> dict[str, Any]:
    """Every analyser at once; the answer has each analyser's result (or error)."""
    (view,) = await news.analyse([article])
    return _article(view)


@router.post(
    "/inference/batch",
    summary="Analyse 1 to 100 articles now (and store them)",
    responses=error_responses(413, 422, 429, 503),
)
async def analyse_batch(body: BatchRequest, news: NewsDep) -> dict[str, Any]:
    views = await news.analyse(body.articles)
    return {"articles": [_article(v) for v in views]}


@router.post(
    "/api/v1/news/feeds",
    summary="Register a feed to poll (idempotent by URL)",
    responses={201: {"description": "Registered."}, **error_responses(413, 422, 503)},
)
async def add_feed(body: FeedRequest, response: Response, news: NewsDep) -> dict[str, Any]:
    """201 when new; 200 with the new interval when the URL was registered already.
    The feed is polled at once, then every `interval_seconds`."""
    feed, created = await news.add_feed(body.url, body.interval_seconds)
    response.status_code = 201 if created else 200
    return _feed_view(feed)


@router.get("/api/v1/news/feeds", summary="Feeds: last poll, error and backoff")
async def list_feeds(news: NewsDep) -> dict[str, Any]:
    return {"feeds": [_feed_view(f) for f in await news.feeds()]}


@router.get(
    "/api/v1/news/rejects",
    summary="Feed entries and stream records skipped as malformed, with the reason",
    responses=error_responses(422),
)
async def list_rejects(
    news: NewsDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    rejects = await news.store.rejects(limit)
    return {"rejects": [{**r, "at": r["at"].isoformat()} for r in rejects]}


@router.get(
    "/api/v1/news/articles",
    summary="Stored articles, newest first, with filters and cursor paging",
    responses=error_responses(422, 503),
)
async def list_articles(
    news: NewsDep,
    text: Annotated[str | None, Query(max_length=200, description="In title or content.")] = None,
    sentiment: Annotated[Sentiment | None, Query()] = None,
    topic: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[
        str | None, Query(description="Taken in at or after this time (ISO-8601).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    where = ArticleFilter(
        text=text or None,
        sentiment=sentiment,
        topic=topic or None,
        source=source or None,
        since=_since(since),
    )
    page, next_cursor = await news.articles(where, limit, cursor)
    return {"articles": [_article(v) for v in page], "next_cursor": next_cursor}


def _since(value: str | None) -> float | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return to_utc(moment).timestamp()
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(
            "since must be an ISO-8601 time, e.g. 2026-12-03T08:00:00Z",
            details=[{"field": "since", "message": f"got {value[:60]!r}"}],
        ) from None


@router.get(
    "/api/v1/news/articles/{article_id}",
    summary="One article with every analyser's result",
    responses=error_responses(404, 422, 503),
)
async def get_article(article_id: ArticleId, news: NewsDep) -> dict[str, Any]:
    return _article(await news.article(str(article_id)))


@router.get(
    "/api/v1/news/articles/{article_id}/similar",
    summary="The articles nearest to this one (cosine of MiniLM embeddings)",
    responses=error_responses(404, 422, 503),
)
async def similar_articles(
    article_id: ArticleId, news: NewsDep, k: Annotated[int, Query(ge=1, le=50)] = 5
) -> dict[str, Any]:
    found = await news.similar(str(article_id), k)
    return {"similar": [{"score": score, "article": _article(view)} for view, score in found]}


@router.get(
    "/api/v1/news/stats",
    summary="The dashboard's figures: counts, sentiment over time, topics, analysers",
    responses=error_responses(422, 503),
)
async def stats(
    news: NewsDep,
    window_seconds: Annotated[float, Query(gt=0, le=30 * 24 * 3600)] = 3600.0,
    bucket_seconds: Annotated[int, Query(ge=1, le=24 * 3600)] = 60,
) -> dict[str, Any]:
    figures = await news.stats(window_seconds, bucket_seconds)
    figures["latest"] = await news.latest()
    return figures


@router.websocket("/api/v1/news/ws")
async def live_updates(websocket: WebSocket) -> None:
    """Pushes `{"type": "update", "timestamp", ...the stats...}` every 2 s: the News view."""
    await websocket.accept()
    news = getattr(websocket.app.state, "news", None)

    async def push() -> None:
        while True:
            await websocket.send_json(await _update(news))
            await asyncio.sleep(PUSH_SECONDS)

    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await push_until_disconnected(websocket, push())


async def _update(news: Any) -> dict[str, Any]:
    try:
        if news is None:
            raise RuntimeError("the news stream is not running in this process")
        service: NewsService = news.service
        figures = await service.stats(3600.0, 60)
        figures["latest"] = await service.latest()
    except Exception as exc:  # the database is away: say so, keep the socket open
        log.warning("news figures failed: %s", exc)
        return {"type": "error", "message": f"figures unavailable: {type(exc).__name__}: {exc}"}
    update = {"type": "update", "timestamp": to_utc(time.time()).isoformat(), **figures}
    encoded: dict[str, Any] = jsonable_encoder(update)  # datetimes as ISO-8601, as over HTTP
    return encoded
