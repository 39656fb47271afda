"""The news use cases: analyse and store articles, read them back, feeds, the dashboard's
figures. The routes, the processor and the CLI all go through here."""

from __future__ import annotations

import json
import time
from typing import Any

from inferline.apps.news.engine import AnalysisEngine
from inferline.apps.news.metrics import NewsMetrics
from inferline.apps.news.models import AnalyzedNewsArticle, RawNewsArticle, digest
from inferline.apps.news.store import ArticleFilter, Feed, NewsStore
from inferline.ports.cache import Cache

LATEST_KEY = "news:latest"
LATEST_COUNT = 20


def article_key(article_id: str) -> str:
    return f"news:article:{article_id}"


class NewsService:
    """Articles through the analysers into the store (the source of truth); the latest
    analysed articles also in the cache (Redis when `INFERLINE_CACHE_URL` names one)."""

    def __init__(
        self,
        store: NewsStore,
        engine: AnalysisEngine,
        metrics: NewsMetrics,
        cache: Cache | None = None,
        *,
        cache_ttl_seconds: float = 3600.0,
    ) -> None:
        self.store = store
        self.engine = engine
        self.metrics = metrics
        self.cache = cache
        self.cache_ttl_seconds = cache_ttl_seconds
        self.stream_lag: int | None = None
        """Records of the stream not yet processed, as this process's processor last
        measured them (None where no processor runs)."""

    async def analyse_and_store(self, articles: list[RawNewsArticle], origin: str) -> list[str]:
        """Analyse each article with the analysers it has no stored result of, store it
        analysed (one transaction), refresh the cache; returns the ids in input order."""
        if not articles:
            return []
        articles = await self.resolve(articles)
        unique = list({a.article_id: a for a in articles}.values())
        stored = await self.store.stored_results([a.article_id for a in unique])
        analyses = await self.engine.analyse_many(unique, stored, origin)
        changed = [a for a in analyses if a.fresh]
        await self.store.save(changed)
        self.metrics.articles_analysed.labels(origin).inc(len(changed))
        if changed and self.cache is not None:
            await self._refresh_cache([a.article.article_id for a in changed])
        return [a.article_id for a in articles]

    async def resolve(self, articles: list[RawNewsArticle]) -> list[RawNewsArticle]:
        """The articles, each that shares its guid or URL with a stored article (or an
        earlier one of the list) made that article: same guid, so the same id."""
        by_guid: dict[str, str | None] = {}
        by_url: dict[str, str | None] = {}
        for row in await self.store.identities(articles):
            if row["guid_hash"]:
                by_guid[row["guid_hash"]] = row["guid"]
            by_url[row["url_hash"]] = row["guid"]
        resolved: list[RawNewsArticle] = []
        for article in articles:
            guid_key = digest(article.guid) if article.guid else None
            url_key = digest(article.url)
            if guid_key is not None and guid_key in by_guid:
                pass  # its id already follows the stored guid
            elif url_key in by_url:
                if by_url[url_key] != article.guid:
                    article = article.model_copy(update={"guid": by_url[url_key]})
            else:
                by_url[url_key] = article.guid
                if guid_key is not None:
                    by_guid[guid_key] = article.guid
            resolved.append(article)
        return resolved

    async def analyse(self, articles: list[RawNewsArticle]) -> list[AnalyzedNewsArticle]:
        """`/inference/single` and `/inference/batch`: analysed now, stored, returned."""
        self.metrics.articles_in.labels("api").inc(len(articles))
        ids = await self.analyse_and_store(articles, origin="api")
        views = {v.id: v for v in await self.store.views(list(dict.fromkeys(ids)))}
        return [views[i] for i in ids]

    async def article(self, article_id: str) -> AnalyzedNewsArticle:
        if self.cache is not None:
            (cached,) = await self.cache.get_many([article_key(article_id)])
            if cached is not None:
                return AnalyzedNewsArticle.model_validate_json(cached)
        view = await self.store.article(article_id)
        if self.cache is not None and view.status == "analysed":
            await self.cache.set_many(
                {article_key(article_id): view.model_dump_json().encode()}, self.cache_ttl_seconds
            )
        return view

    async def articles(
        self, where: ArticleFilter, limit: int, cursor: str | None
    ) -> tuple[list[AnalyzedNewsArticle], str | None]:
        return await self.store.articles(where, limit, cursor)

    async def latest(self) -> list[dict[str, Any]]:
        """The latest analysed articles, from the cache when it has them."""
        if self.cache is not None:
            (cached,) = await self.cache.get_many([LATEST_KEY])
            if cached is not None:
                latest: list[dict[str, Any]] = json.loads(cached)
                return latest
        page, _ = await self.store.articles(ArticleFilter(), LATEST_COUNT, None)
        return [v.model_dump(mode="json") for v in page]

    async def similar(self, article_id: str, k: int) -> list[tuple[AnalyzedNewsArticle, float]]:
        return await self.store.similar(article_id, k)

    async def add_feed(self, url: str, interval_seconds: float) -> tuple[Feed, bool]:
        return await self.store.add_feed(url, interval_seconds)

    async def feeds(self) -> list[Feed]:
        return await self.store.feeds()

    async def stats(self, window_seconds: float, bucket_seconds: int) -> dict[str, Any]:
        figures = await self.store.stats(time.time() - window_seconds, bucket_seconds)
        figures["stream_lag"] = self.stream_lag
        figures["window_seconds"] = window_seconds
        figures["bucket_seconds"] = bucket_seconds
        return figures

    async def _refresh_cache(self, ids: list[str]) -> None:
        assert self.cache is not None
        views = await self.store.views(ids)
        entries = {article_key(v.id): v.model_dump_json().encode() for v in views}
        page, _ = await self.store.articles(ArticleFilter(), LATEST_COUNT, None)
        entries[LATEST_KEY] = json.dumps([v.model_dump(mode="json") for v in page]).encode()
        await self.cache.set_many(entries, self.cache_ttl_seconds)
