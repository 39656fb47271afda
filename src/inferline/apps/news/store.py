"""The news tables on the job store's database (SQLite, PostgreSQL, MySQL/MariaDB).

The database is the source of truth: an article is stored analysed in one
transaction with every analyser's result (`save`), keyed by the article's id and
the analyser, so storing it again replaces it rather than adding a second one.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inferline.apps.news.engine import ArticleAnalysis
from inferline.apps.news.models import (
    AnalysisResult,
    AnalysisStatus,
    AnalyzedNewsArticle,
    RawNewsArticle,
    digest,
)
from inferline.apps.news.schema import (
    news_analyses,
    news_articles,
    news_feeds,
    news_rejects,
)
from inferline.domain.errors import InvalidInput, NotFound, Unavailable
from inferline.domain.ids import new_job_id

CHUNK = 500
REJECT_NAMESPACE = uuid.UUID("0b6f3f8e-2d1c-4e57-9c0a-6a1d2b7e9f35")


@dataclass(frozen=True, slots=True)
class Database:
    """A database and the platform's way to reach it, supplied by the composition root:
    `engines(url)` gives a (writer, reader) pair of engines (SQLite's one-hop threads,
    asyncpg, aiomysql), `migrate(url)` brings the schema (migration 0004) up to date."""

    url: str
    engines: Callable[[str], tuple[Any, Any]]
    migrate: Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reject:
    """A feed entry or stream record that could not become an article."""

    feed_url: str | None
    entry: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    text: str | None = None
    sentiment: str | None = None
    topic: str | None = None
    source: str | None = None
    since: float | None = None


@dataclass(frozen=True, slots=True)
class Feed:
    id: str
    url: str
    interval_seconds: float
    created_at: float
    next_poll_at: float
    last_polled_at: float | None
    last_success_at: float | None
    last_error: str | None
    failures: int
    articles_published: int
    entries_rejected: int


def _iso(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def encode_cursor(created_at: float, article_id: str) -> str:
    raw = json.dumps([created_at, article_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, article_id = json.loads(raw)
        if not isinstance(article_id, str) or isinstance(created_at, bool):
            raise ValueError
        return float(created_at), article_id
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput(
            "cursor is not one this API gave out",
            details=[{"field": "cursor", "message": "use next_cursor of the previous page"}],
        ) from None


class NewsStore:
    """Feeds, articles, analyser results and rejects, on their own engines."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._writer: Any = None
        self._reader: Any = None
        self.dialect = ""

    async def start(self) -> None:
        await self.database.migrate(self.database.url)
        self._writer, self._reader = self.database.engines(self.database.url)
        self.dialect = self._writer.dialect.name

    async def close(self) -> None:
        for engine in {id(e): e for e in (self._writer, self._reader) if e}.values():
            await engine.dispose()
        self._writer = self._reader = None

    @property
    def writer(self) -> Any:
        if self._writer is None:
            raise Unavailable("the database is not connected yet", retry_after=1.0)
        return self._writer

    @property
    def reader(self) -> Any:
        if self._reader is None:
            raise Unavailable("the database is not connected yet", retry_after=1.0)
        return self._reader

    def _insert_ignoring_duplicates(self, table: Any) -> Any:
        if self.dialect == "postgresql":
            return pg_insert(table).on_conflict_do_nothing()
        if self.dialect == "sqlite":
            return sqlite_insert(table).on_conflict_do_nothing()
        return mysql_insert(table).prefix_with("IGNORE")

    # -- feeds -------------------------------------------------------------------
    async def add_feed(self, url: str, interval_seconds: float) -> tuple[Feed, bool]:
        """Register a feed (due at once); an already registered URL gets the new interval.
        Returns the feed and whether it is new."""
        now = time.time()
        key = digest(url)
        async with self.writer.begin() as conn:
            row = (
                await conn.execute(select(news_feeds).where(news_feeds.c.url_hash == key))
            ).first()
            if row is not None:
                await conn.execute(
                    update(news_feeds)
                    .where(news_feeds.c.id == row.id)
                    .values(interval_seconds=interval_seconds)
                )
                return _feed(row._mapping, interval_seconds=interval_seconds), False
            values = {
                "id": new_job_id(),
                "url": url,
                "url_hash": key,
                "interval_seconds": interval_seconds,
                "created_at": now,
                "next_poll_at": now,
                "last_polled_at": None,
                "last_success_at": None,
                "last_error": None,
                "failures": 0,
                "articles_published": 0,
                "entries_rejected": 0,
            }
            await conn.execute(insert(news_feeds).values(**values))
        return _feed(values), True

    async def feeds(self) -> list[Feed]:
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(news_feeds).order_by(news_feeds.c.created_at))
            return [_feed(r._mapping) for r in rows]

    async def claim_due_feeds(self, now: float, hold_seconds: float) -> list[Feed]:
        """Feeds due now, each claimed by moving its next poll `hold_seconds` ahead only if
        no other process moved it first (so one process polls a feed at a time)."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(news_feeds).where(news_feeds.c.next_poll_at <= now))
            due = [_feed(r._mapping) for r in rows]
        claimed: list[Feed] = []
        for feed in due:
            async with self.writer.begin() as conn:
                result = await conn.execute(
                    update(news_feeds)
                    .where(
                        news_feeds.c.id == feed.id,
                        news_feeds.c.next_poll_at == feed.next_poll_at,
                    )
                    .values(next_poll_at=now + hold_seconds)
                )
                if result.rowcount == 1:
                    claimed.append(feed)
        return claimed

    async def record_poll(
        self,
        feed_id: str,
        *,
        polled_at: float,
        next_poll_at: float,
        error: str | None,
        failures: int,
        published: int,
        rejected: int,
    ) -> None:
        values: dict[str, Any] = {
            "last_polled_at": polled_at,
            "next_poll_at": next_poll_at,
            "last_error": error,
            "failures": failures,
        }
        if error is None:  # a failed poll keeps the figures of the last good one
            values["last_success_at"] = polled_at
            values["articles_published"] = news_feeds.c.articles_published + published
            values["entries_rejected"] = rejected
        async with self.writer.begin() as conn:
            await conn.execute(update(news_feeds).where(news_feeds.c.id == feed_id).values(values))

    # -- intake ------------------------------------------------------------------
    async def known(self, articles: Sequence[RawNewsArticle]) -> set[str]:
        """The guid and URL hashes among these articles' that are stored already."""
        found: set[str] = set()
        for row in await self.identities(articles):
            found.update(h for h in (row["guid_hash"], row["url_hash"]) if h)
        return found

    async def identities(self, articles: Sequence[RawNewsArticle]) -> list[dict[str, Any]]:
        """`guid`, `guid_hash` and `url_hash` of the stored articles that share a guid or
        a URL with one of these."""
        guids = [digest(a.guid) for a in articles if a.guid]
        urls = [digest(a.url) for a in articles]
        found: list[dict[str, Any]] = []
        table = news_articles
        async with self.reader.connect() as conn:
            for start in range(0, max(len(urls), len(guids)), CHUNK):
                g, u = guids[start : start + CHUNK], urls[start : start + CHUNK]
                clauses = [table.c.url_hash.in_(u)] if u else []
                if g:
                    clauses.append(table.c.guid_hash.in_(g))
                if not clauses:
                    continue
                query = select(table.c.guid, table.c.guid_hash, table.c.url_hash).where(
                    or_(*clauses)
                )
                found.extend(dict(row._mapping) for row in await conn.execute(query))
        return found

    async def add_queued(self, articles: Sequence[RawNewsArticle], origin: str) -> None:
        """Record articles as taken in (status `queued`); existing ones are left alone."""
        if not articles:
            return
        now = time.time()
        async with self.writer.begin() as conn:
            await conn.execute(
                self._insert_ignoring_duplicates(news_articles),
                [_article_values(a, origin, now) for a in articles],
            )

    async def add_rejects(self, rejects: Sequence[Reject]) -> None:
        if not rejects:
            return
        now = time.time()
        rows = [
            {
                # the same entry rejected for the same reason on every poll is recorded once
                "id": str(uuid.uuid5(REJECT_NAMESPACE, f"{r.feed_url}\0{r.entry}\0{r.reason}")),
                "feed_url": r.feed_url,
                "entry": (r.entry or "")[:1000] or None,
                "reason": r.reason[:1000],
                "at": now,
            }
            for r in rejects
        ]
        async with self.writer.begin() as conn:
            await conn.execute(self._insert_ignoring_duplicates(news_rejects), rows)

    async def rejects(self, limit: int) -> list[dict[str, Any]]:
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(news_rejects).order_by(news_rejects.c.at.desc()).limit(limit)
            )
            return [
                {
                    "feed_url": r.feed_url,
                    "entry": r.entry,
                    "reason": r.reason,
                    "at": _iso(r.at),
                }
                for r in rows
            ]

    # -- analyses ----------------------------------------------------------------
    async def stored_results(self, ids: Sequence[str]) -> dict[str, dict[str, AnalysisResult]]:
        """The analyser results stored for these articles, by article id and analyser."""
        found: dict[str, dict[str, AnalysisResult]] = {}
        unique = list(dict.fromkeys(ids))
        async with self.reader.connect() as conn:
            for start in range(0, len(unique), CHUNK):
                query = select(news_analyses).where(
                    news_analyses.c.article_id.in_(unique[start : start + CHUNK])
                )
                for row in await conn.execute(query):
                    found.setdefault(row.article_id, {})[row.analyser] = _result(row._mapping)
        return found

    async def save(self, analyses: Sequence[ArticleAnalysis]) -> None:
        """Store each article analysed, with its fresh analyser results, in one transaction."""
        if not analyses:
            return
        now = time.time()
        async with self.writer.begin() as conn:
            await conn.execute(
                self._insert_ignoring_duplicates(news_articles),
                [_article_values(a.article, a.origin, now) for a in analyses],
            )
            for analysis in analyses:
                article_id = analysis.article.article_id
                if analysis.fresh:
                    await conn.execute(
                        delete(news_analyses).where(
                            news_analyses.c.article_id == article_id,
                            news_analyses.c.analyser.in_(analysis.fresh),
                        )
                    )
                    await conn.execute(
                        insert(news_analyses),
                        [
                            _result_values(article_id, analysis.results[name])
                            for name in analysis.fresh
                        ],
                    )
                columns = _analysed_columns(analysis, now)
                await conn.execute(
                    update(news_articles).where(news_articles.c.id == article_id).values(columns)
                )

    # -- reading -----------------------------------------------------------------
    async def article(self, article_id: str) -> AnalyzedNewsArticle:
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(select(news_articles).where(news_articles.c.id == article_id))
            ).first()
            if row is None:
                raise NotFound(f"article {article_id} not found", details={"id": article_id})
            results = await conn.execute(
                select(news_analyses).where(news_analyses.c.article_id == article_id)
            )
            return _view(row._mapping, [_result(r._mapping) for r in results])

    async def articles(
        self, where: ArticleFilter, limit: int, cursor: str | None
    ) -> tuple[list[AnalyzedNewsArticle], str | None]:
        """Newest first, `limit` at a time; the cursor continues after the last one."""
        table = news_articles
        clauses = []
        if where.sentiment:
            clauses.append(table.c.sentiment == where.sentiment)
        if where.topic:
            clauses.append(table.c.topic == where.topic)
        if where.source:
            clauses.append(table.c.source == where.source)
        if where.since is not None:
            clauses.append(table.c.created_at >= where.since)
        if where.text:
            pattern = (
                "%"
                + where.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            clauses.append(
                or_(
                    func.lower(table.c.title).like(pattern, escape="\\"),
                    func.lower(table.c.content).like(pattern, escape="\\"),
                )
            )
        if cursor is not None:
            created_at, last_id = decode_cursor(cursor)
            clauses.append(
                or_(
                    table.c.created_at < created_at,
                    and_(table.c.created_at == created_at, table.c.id < last_id),
                )
            )
        query = (
            _VIEW_SELECT.where(*clauses)
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .limit(limit + 1)
        )
        async with self.reader.connect() as conn:
            rows = list(await conn.execute(query))
            page = rows[:limit]
            views = await self._views(conn, page)
        more = len(rows) > limit
        next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more and page else None
        return views, next_cursor

    async def views(self, ids: Sequence[str]) -> list[AnalyzedNewsArticle]:
        """The stored articles of these ids (those that exist), with their results."""
        found: list[AnalyzedNewsArticle] = []
        unique = list(dict.fromkeys(ids))
        async with self.reader.connect() as conn:
            for start in range(0, len(unique), CHUNK):
                chunk = unique[start : start + CHUNK]
                rows = list(await conn.execute(_VIEW_SELECT.where(news_articles.c.id.in_(chunk))))
                found.extend(await self._views(conn, rows))
        return found

    async def _views(self, conn: Any, rows: list[Any]) -> list[AnalyzedNewsArticle]:
        results: dict[str, list[AnalysisResult]] = {}
        ids = [r.id for r in rows]
        if ids:
            found = await conn.execute(
                select(news_analyses).where(news_analyses.c.article_id.in_(ids))
            )
            for r in found:
                results.setdefault(r.article_id, []).append(_result(r._mapping))
        return [_view(r._mapping, results.get(r.id, [])) for r in rows]

    async def similar(self, article_id: str, k: int) -> list[tuple[AnalyzedNewsArticle, float]]:
        """The `k` stored articles whose embeddings are nearest (cosine) to this one's."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(news_articles.c.embedding).where(news_articles.c.id == article_id)
                )
            ).first()
            if row is None:
                raise NotFound(f"article {article_id} not found", details={"id": article_id})
            if row.embedding is None:
                raise InvalidInput(
                    f"article {article_id} has no embedding (not analysed, or its embedding "
                    "analyser failed)",
                    details=[{"field": "id", "message": "no embedding"}],
                )
            others = list(
                await conn.execute(
                    select(news_articles.c.id, news_articles.c.embedding).where(
                        news_articles.c.embedding.is_not(None), news_articles.c.id != article_id
                    )
                )
            )
        if not others:
            return []
        target = np.frombuffer(row.embedding, dtype="<f4")
        matrix = np.vstack([np.frombuffer(r.embedding, dtype="<f4") for r in others])
        scores = matrix @ target
        best = np.argsort(-scores)[:k]
        chosen = [(others[i].id, float(scores[i])) for i in best]
        views = {a.id: a for a in [await self.article(i) for i, _ in chosen]}
        return [(views[i], round(score, 6)) for i, score in chosen]

    async def stats(self, since: float, bucket_seconds: int) -> dict[str, Any]:
        """What the dashboard shows: counts, sentiment per time bucket, topic counts, and
        each analyser's success rate and latency (since `since`)."""
        a, r = news_articles, news_analyses
        async with self.reader.connect() as conn:
            by_status = {
                row[0]: int(row[1])
                for row in await conn.execute(select(a.c.status, func.count()).group_by(a.c.status))
            }
            topics = [
                {"topic": row[0], "count": int(row[1])}
                for row in await conn.execute(
                    select(a.c.topic, func.count())
                    .where(a.c.topic.is_not(None))
                    .group_by(a.c.topic)
                    .order_by(func.count().desc())
                )
            ]
            sentiment_rows = await conn.execute(
                select(a.c.analysed_at, a.c.sentiment).where(
                    a.c.analysed_at >= since, a.c.sentiment.is_not(None)
                )
            )
            buckets: dict[int, dict[str, int]] = {}
            for analysed_at, label in sentiment_rows:
                start = int(analysed_at // bucket_seconds * bucket_seconds)
                counts = buckets.setdefault(start, {"positive": 0, "neutral": 0, "negative": 0})
                counts[label] = counts.get(label, 0) + 1
            analysers = [
                {
                    "analyser": row[0],
                    "status": row[1],
                    "count": int(row[2]),
                    "mean_latency_ms": round(float(row[3] or 0.0), 3),
                }
                for row in await conn.execute(
                    select(r.c.analyser, r.c.status, func.count(), func.avg(r.c.latency_ms))
                    .where(r.c.analysed_at >= since)
                    .group_by(r.c.analyser, r.c.status)
                )
            ]
        return {
            "articles": {
                "total": sum(by_status.values()),
                "analysed": by_status.get("analysed", 0),
                "queued": by_status.get("queued", 0),
            },
            "topics": topics,
            "sentiment_over_time": [
                {"start": _iso(start), **counts} for start, counts in sorted(buckets.items())
            ],
            "analysers": _analyser_rates(analysers),
        }


_VIEW_SELECT = select(
    *[c for c in news_articles.c if c.name != "embedding"],
    news_articles.c.embedding.is_not(None).label("has_embedding"),
)


def _analyser_rates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = summary.setdefault(
            row["analyser"],
            {"analyser": row["analyser"], "ok": 0, "failed": 0, "skipped": 0, "_latency": 0.0},
        )
        entry[row["status"]] = entry.get(row["status"], 0) + row["count"]
        entry["_latency"] += row["mean_latency_ms"] * row["count"]
    out = []
    for entry in sorted(summary.values(), key=lambda e: e["analyser"]):
        runs = entry["ok"] + entry["failed"] + entry["skipped"]
        ran = entry["ok"] + entry["failed"]
        out.append(
            {
                "analyser": entry["analyser"],
                "ok": entry["ok"],
                "failed": entry["failed"],
                "skipped": entry["skipped"],
                "success_rate": round(entry["ok"] / ran, 4) if ran else None,
                "mean_latency_ms": round(entry.pop("_latency") / runs, 3) if runs else None,
            }
        )
    return out


def _feed(m: Any, **override: Any) -> Feed:
    values = {f.name: m[f.name] for f in fields(Feed)}
    values.update(override)
    return Feed(**values)


def _article_values(article: RawNewsArticle, origin: str, now: float) -> dict[str, Any]:
    return {
        "id": article.article_id,
        "guid_hash": digest(article.guid) if article.guid else None,
        "url_hash": digest(article.url),
        "guid": article.guid,
        "url": article.url,
        "title": article.title,
        "content": article.content,
        "source": article.source,
        "author": article.author,
        "published_at": _seconds(article.published_at),
        "origin": origin,
        "status": "queued",
        "created_at": now,
        "analysed_at": None,
        "sentiment": None,
        "sentiment_score": None,
        "topic": None,
        "keywords": None,
        "summary": None,
        "embedding": None,
    }


def _analysed_columns(analysis: ArticleAnalysis, now: float) -> dict[str, Any]:
    def output(name: str) -> dict[str, Any] | None:
        result = analysis.results.get(name)
        return result.output if result is not None and result.status is AnalysisStatus.OK else None

    sentiment, topics = output("sentiment"), output("topics")
    keywords, summary = output("keywords"), output("summary")
    columns: dict[str, Any] = {
        "status": "analysed",
        "analysed_at": now,
        "sentiment": sentiment["label"] if sentiment else None,
        "sentiment_score": sentiment["compound"] if sentiment else None,
        "topic": topics["top"] if topics else None,
        "keywords": [k["keyword"] for k in keywords["keywords"]] if keywords else None,
        "summary": summary["summary"] if summary else None,
    }
    if analysis.embedding is not None:
        columns["embedding"] = np.asarray(analysis.embedding, dtype="<f4").tobytes()
    return columns


def _result_values(article_id: str, result: AnalysisResult) -> dict[str, Any]:
    return {
        "article_id": article_id,
        "analyser": result.analyser,
        "status": result.status.value,
        "output": result.output,
        "error": result.error,
        "latency_ms": result.latency_ms,
        "attempts": result.attempts,
        "analysed_at": result.analysed_at.timestamp(),
    }


def _result(m: Any) -> AnalysisResult:
    return AnalysisResult(
        analyser=m["analyser"],
        status=AnalysisStatus(m["status"]),
        output=m["output"],
        error=m["error"],
        latency_ms=m["latency_ms"],
        attempts=m["attempts"],
        analysed_at=datetime.fromtimestamp(m["analysed_at"], UTC),
    )


def _view(m: Any, results: list[AnalysisResult]) -> AnalyzedNewsArticle:
    has_embedding = m["has_embedding"] if "has_embedding" in m else m["embedding"] is not None
    return AnalyzedNewsArticle(
        id=m["id"],
        title=m["title"],
        content=m["content"],
        url=m["url"],
        source=m["source"],
        author=m["author"],
        published_at=_iso(m["published_at"]),
        guid=m["guid"],
        origin=m["origin"],
        status=m["status"],
        created_at=datetime.fromtimestamp(m["created_at"], UTC),
        analysed_at=_iso(m["analysed_at"]),
        sentiment=m["sentiment"],
        sentiment_score=m["sentiment_score"],
        topic=m["topic"],
        keywords=list(m["keywords"] or []),
        summary=m["summary"],
        has_embedding=bool(has_embedding),
        results=sorted(results, key=lambda r: r.analyser),
    )
