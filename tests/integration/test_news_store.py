"""The news tables on SQLite, PostgreSQL and MariaDB: migration 0004, one article per id
and one result per analyser however often it is saved, filters and cursor paging,
similar articles, feed claims, and the embedded stream's redelivery."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.apps.news.analysers import KeywordAnalyser, SentimentAnalyser, Vector
from inferline.apps.news.engine import AnalysisEngine, ArticleAnalysis
from inferline.apps.news.metrics import NewsMetrics
from inferline.apps.news.models import AnalysisResult, AnalysisStatus, RawNewsArticle, digest
from inferline.apps.news.queue import SqlStream
from inferline.apps.news.service import NewsService
from inferline.apps.news.store import ArticleFilter, Database, NewsStore, Reject
from inferline.domain.errors import InvalidInput, NotFound
from inferline.ports.streams import OutRecord


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[NewsStore]:
    news = NewsStore(Database(store_url, create_engines, upgrade_to_head))
    await news.start()
    yield news
    await news.close()


def article(i: int, **values: object) -> RawNewsArticle:
    fields: dict[str, object] = {
        "title": f"Article number {i}",
        "content": f"Body of article {i}.",
        "url": f"https://news.example.com/{i}",
        "source": "Example" if i % 2 else "Other",
    }
    fields.update(values)
    return RawNewsArticle.model_validate(fields)


def result(name: str, status: AnalysisStatus, output: dict[str, object] | None) -> AnalysisResult:
    return AnalysisResult(
        analyser=name,
        status=status,
        output=output,
        error=None if status is AnalysisStatus.OK else "boom",
        latency_ms=1.5,
        analysed_at=datetime.now(UTC),
    )


def analysed(raw: RawNewsArticle, label: str, vector: Vector | None) -> ArticleAnalysis:
    results = {
        "sentiment": result("sentiment", AnalysisStatus.OK, {"label": label, "compound": 0.5}),
        "topics": result("topics", AnalysisStatus.OK, {"top": "science", "labels": []}),
        "keywords": result(
            "keywords", AnalysisStatus.OK, {"keywords": [{"keyword": "k", "score": 0.1}]}
        ),
        "summary": result("summary", AnalysisStatus.FAILED, None),
    }
    return ArticleAnalysis(raw, "feed", results, list(results), vector)


def unit(*values: float) -> Vector:
    vector = np.zeros(384, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


async def test_saving_again_keeps_one_article_and_one_result_per_analyser(store: NewsStore) -> None:
    raw = article(1)
    await store.add_queued([raw], "feed")
    await store.add_queued([raw], "feed")
    queued = await store.article(raw.article_id)
    assert queued.status == "queued" and queued.results == []
    await store.save([analysed(raw, "positive", unit(1.0))])
    await store.save([analysed(raw, "negative", unit(1.0))])
    view = await store.article(raw.article_id)
    assert view.status == "analysed"
    assert view.sentiment == "negative"
    assert view.topic == "science"
    assert view.keywords == ["k"]
    assert view.has_embedding
    assert sorted(r.analyser for r in view.results) == [
        "keywords",
        "sentiment",
        "summary",
        "topics",
    ]
    stored = await store.stored_results([raw.article_id])
    assert stored[raw.article_id]["summary"].status is AnalysisStatus.FAILED
    page, _ = await store.articles(ArticleFilter(), 10, None)
    assert [v.id for v in page] == [raw.article_id]


async def test_known_finds_articles_by_guid_or_url(store: NewsStore) -> None:
    await store.add_queued([article(1, guid="g-1"), article(2)], "feed")
    candidates = [
        article(9, guid="g-1"),  # another URL, a stored guid
        article(2, guid="new"),  # a new guid, a stored URL
        article(3),  # new
    ]
    known = await store.known(candidates)

    def seen(a: RawNewsArticle) -> bool:
        return digest(a.url) in known or (a.guid is not None and digest(a.guid) in known)

    assert [seen(a) for a in candidates] == [True, True, False]


async def test_filters_and_cursor_paging(store: NewsStore) -> None:
    raws = [article(i) for i in range(7)]
    await store.save(
        [analysed(r, "positive" if i % 3 else "neutral", unit(1.0, i)) for i, r in enumerate(raws)]
    )
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = await store.articles(ArticleFilter(), 3, cursor)
        seen += [v.id for v in page]
        if cursor is None:
            break
    assert sorted(seen) == sorted(r.article_id for r in raws) and len(seen) == 7
    neutral, _ = await store.articles(ArticleFilter(sentiment="neutral"), 50, None)
    assert sorted(v.title for v in neutral) == [
        "Article number 0",
        "Article number 3",
        "Article number 6",
    ]
    text, _ = await store.articles(ArticleFilter(text="NUMBER 5"), 50, None)
    assert [v.title for v in text] == ["Article number 5"]
    source, _ = await store.articles(ArticleFilter(source="Other", topic="science"), 50, None)
    assert len(source) == 4
    later, _ = await store.articles(ArticleFilter(since=time.time() + 60), 50, None)
    assert later == []
    with pytest.raises(InvalidInput, match="cursor"):
        await store.articles(ArticleFilter(), 3, "not-a-cursor")


async def test_similar_articles_by_cosine(store: NewsStore) -> None:
    target, near, far, bare = article(1), article(2), article(3), article(4)
    await store.save(
        [
            analysed(target, "positive", unit(1.0, 0.0)),
            analysed(near, "positive", unit(0.9, 0.1)),
            analysed(far, "positive", unit(0.0, 1.0)),
            analysed(bare, "positive", None),
        ]
    )
    found = await store.similar(target.article_id, 5)
    assert [view.id for view, _ in found] == [near.article_id, far.article_id]
    assert found[0][1] > 0.99 and abs(found[1][1]) < 1e-6
    with pytest.raises(InvalidInput, match="no embedding"):
        await store.similar(bare.article_id, 5)
    with pytest.raises(NotFound):
        await store.similar("00000000-0000-0000-0000-000000000000", 5)


async def test_stats_count_sentiment_topics_and_analysers(store: NewsStore) -> None:
    await store.save([analysed(article(i), "positive", None) for i in range(3)])
    await store.add_queued([article(10)], "feed")
    stats = await store.stats(time.time() - 60, 60)
    assert stats["articles"] == {"total": 4, "analysed": 3, "queued": 1}
    assert stats["topics"] == [{"topic": "science", "count": 3}]
    assert sum(b["positive"] for b in stats["sentiment_over_time"]) == 3
    rates = {a["analyser"]: a for a in stats["analysers"]}
    assert rates["sentiment"]["success_rate"] == 1.0
    assert rates["summary"]["success_rate"] == 0.0 and rates["summary"]["failed"] == 3


async def test_a_due_feed_is_claimed_by_one_poller(store: NewsStore) -> None:
    feed, created = await store.add_feed("https://feeds.example.com/rss", 60)
    again, created_again = await store.add_feed("https://feeds.example.com/rss", 30)
    assert created and not created_again and again.id == feed.id
    now = time.time() + 1
    first = await store.claim_due_feeds(now, 100)
    second = await store.claim_due_feeds(now, 100)
    assert [f.id for f in first] == [feed.id] and second == []
    await store.record_poll(
        feed.id,
        polled_at=now,
        next_poll_at=now + 20,
        error="HTTP 500",
        failures=1,
        published=0,
        rejected=0,
    )
    (shown,) = await store.feeds()
    assert shown.last_error == "HTTP 500" and shown.failures == 1 and shown.interval_seconds == 30


async def test_rejects_are_recorded_once_with_their_reason(store: NewsStore) -> None:
    reject = Reject("https://feeds.example.com/rss", "entry-1", "invalid entry: url: missing")
    await store.add_rejects([reject])
    await store.add_rejects([reject])
    (shown,) = await store.rejects(10)
    assert shown["reason"] == "invalid entry: url: missing" and shown["entry"] == "entry-1"


async def test_the_embedded_stream_redelivers_what_was_not_committed(store: NewsStore) -> None:
    writer = SqlStream(store, "news.raw")
    await writer.send([OutRecord("news.raw", f"k{i}", f"v{i}".encode()) for i in range(5)])
    reader = SqlStream(store, "news.raw")
    first = await reader.read(3, 0.1)
    second = await reader.read(3, 0.1)
    assert [r.value for r in first] == [b"v0", b"v1", b"v2"]
    assert [r.value for r in second] == [b"v3", b"v4"]
    await reader.commit(first)
    assert await reader.lag() == {0: 2}
    restarted = SqlStream(store, "news.raw")  # the reader died before committing `second`
    again = await restarted.read(10, 0.1)
    assert [r.value for r in again] == [b"v3", b"v4"]
    await restarted.commit(again)
    assert await restarted.read(10, 0.05) == []
    assert await SqlStream(store, "other.topic").lag() == {0: 0}


async def test_the_same_article_by_guid_or_url_is_stored_once(store: NewsStore) -> None:
    async def no_embedder(texts: list[str]) -> list[Vector]:
        raise AssertionError("sentiment and keywords need no embedding")

    metrics = NewsMetrics(CollectorRegistry())
    engine = AnalysisEngine([SentimentAnalyser(), KeywordAnalyser()], no_embedder, metrics)
    service = NewsService(store, engine, metrics)
    from_feed = article(1, guid="feed-guid-1")
    (stored,) = await service.analyse([from_feed])
    same_url = article(1)  # no guid, the same (canonical) URL
    other_guid = article(1, guid="another-guid", url="https://news.example.com/1?utm_source=x")
    twice = await service.analyse([same_url, other_guid, article(2)])
    assert [v.id for v in twice[:2]] == [stored.id, stored.id]
    assert twice[2].id != stored.id
    page, _ = await store.articles(ArticleFilter(), 50, None)
    assert len(page) == 2
    assert [r.analyser for r in (await store.article(stored.id)).results] == [
        "keywords",
        "sentiment",
    ]


async def test_the_longest_content_is_stored_on_every_engine(store: NewsStore) -> None:
    longest = article(1, content="\U0001f30d" * 20_000)  # 80,000 bytes of UTF-8
    await store.save([analysed(longest, "neutral", None)])
    assert (await store.article(longest.article_id)).content == longest.content
