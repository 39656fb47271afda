"""The producer: feed entries become records of the stream `news.raw`, each article once.

An article is published when neither its guid nor its URL has been seen. It is sent
to the stream first and recorded (`queued`) afterwards: a crash between the two
publishes it again on the next pass, and the processor stores it once all the same.
`FeedPoller` polls the registered feeds on their intervals; a failing feed is retried
with exponential backoff and keeps its last error for `GET /api/v1/news/feeds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import httpx

from inferline.apps.news.feeds import FeedError, ParsedFeed, fetch, parse
from inferline.apps.news.metrics import NewsMetrics
from inferline.apps.news.models import RawNewsArticle, digest
from inferline.apps.news.store import Feed, NewsStore
from inferline.ports.streams import OutRecord, StreamSink

log = logging.getLogger(__name__)

SEND_CHUNK = 500


@dataclass(frozen=True, slots=True)
class PassOutcome:
    """What one pass over a feed did."""

    published: int
    duplicates: int
    rejected: int


class NewsProducer:
    """Publishes new articles of a feed to the stream and records what it skipped."""

    def __init__(
        self, store: NewsStore, sink: StreamSink, topic: str, metrics: NewsMetrics
    ) -> None:
        self.store = store
        self.sink = sink
        self.topic = topic
        self.metrics = metrics

    async def produce(
        self, location: str, client: httpx.AsyncClient, timeout: float = 10.0
    ) -> PassOutcome:
        """One pass: fetch the feed (URL or file), parse it, publish its new articles."""
        data = await fetch(location, client, timeout)
        parsed = await asyncio.to_thread(parse, data, location)
        return await self.publish(parsed)

    async def publish(self, parsed: ParsedFeed) -> PassOutcome:
        await self.store.add_rejects(parsed.rejects)
        for reject in parsed.rejects:
            self.metrics.entries_rejected.labels("invalid_entry").inc()
            log.info("feed entry skipped: %s (%s)", reject.entry, reject.reason)
        fresh = await self._unseen(parsed.articles)
        duplicates = len(parsed.articles) - len(fresh)
        self.metrics.duplicates.inc(duplicates)
        for start in range(0, len(fresh), SEND_CHUNK):
            chunk = fresh[start : start + SEND_CHUNK]
            await self.sink.send([self._record(a) for a in chunk])
            await self.store.add_queued(chunk, "feed")
            self.metrics.articles_in.labels("feed").inc(len(chunk))
        return PassOutcome(len(fresh), duplicates, len(parsed.rejects))

    async def _unseen(self, articles: list[RawNewsArticle]) -> list[RawNewsArticle]:
        """Articles whose guid and URL are both new (stored, or earlier in this feed)."""
        seen = await self.store.known(articles)
        fresh: list[RawNewsArticle] = []
        for article in articles:
            keys = {digest(article.url)} | ({digest(article.guid)} if article.guid else set())
            if keys & seen:
                continue
            seen |= keys
            fresh.append(article)
        return fresh

    def _record(self, article: RawNewsArticle) -> OutRecord:
        return OutRecord(self.topic, article.article_id, article.model_dump_json().encode())


def backoff_seconds(interval: float, failures: int, ceiling: float) -> float:
    """The wait after `failures` failed polls in a row: the interval doubled each time."""
    return min(ceiling, interval * 2.0 ** min(failures, 30))


class FeedPoller:
    """Polls every registered feed when it is due, in any process that runs it."""

    def __init__(
        self,
        producer: NewsProducer,
        *,
        tick_seconds: float = 1.0,
        fetch_timeout: float = 10.0,
        max_backoff_seconds: float = 3600.0,
    ) -> None:
        self.producer = producer
        self.store = producer.store
        self.tick_seconds = tick_seconds
        self.fetch_timeout = fetch_timeout
        self.max_backoff_seconds = max_backoff_seconds
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(headers={"User-Agent": "inferline-news"})
        self._task = asyncio.create_task(self._run(), name="news-feed-poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.poll_due()
            await asyncio.sleep(self.tick_seconds)

    async def poll_due(self) -> int:
        """Poll the feeds due now; returns how many were polled."""
        hold = self.fetch_timeout * 3 + 30  # no other process takes it while this one polls
        feeds = await self.store.claim_due_feeds(time.time(), hold)
        await asyncio.gather(*(self.poll(feed) for feed in feeds))
        return len(feeds)

    async def poll(self, feed: Feed) -> None:
        assert self._client is not None, "start() the poller first"
        started = time.time()
        try:
            outcome = await self.producer.produce(feed.url, self._client, self.fetch_timeout)
        except Exception as exc:
            failures = feed.failures + 1
            wait = backoff_seconds(feed.interval_seconds, failures, self.max_backoff_seconds)
            error = str(exc) if isinstance(exc, FeedError) else f"{type(exc).__name__}: {exc}"
            log.warning(
                "feed %s failed (%d in a row): %s; next try in %.0fs",
                feed.url,
                failures,
                error,
                wait,
            )
            self.producer.metrics.feed_polls.labels("failed").inc()
            await self.store.record_poll(
                feed.id,
                polled_at=started,
                next_poll_at=time.time() + wait,
                error=error[:1000],
                failures=failures,
                published=0,
                rejected=0,
            )
            return
        self.producer.metrics.feed_polls.labels("ok").inc()
        await self.store.record_poll(
            feed.id,
            polled_at=started,
            next_poll_at=started + feed.interval_seconds,
            error=None,
            failures=0,
            published=outcome.published,
            rejected=outcome.rejected,
        )
