"""`inferline news produce --feed URL|FILE`: one pass over a feed into the news stream."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from inferline.apps.news.feeds import FeedError
from inferline.apps.news.metrics import NewsMetrics
from inferline.apps.news.producer import NewsProducer, PassOutcome
from inferline.apps.news.settings import NewsSettings
from inferline.apps.news.store import Database, NewsStore
from inferline.apps.news.wiring import stream_sink
from inferline.ports.streams import StreamSink


async def produce_once(
    database: Database, broker_sink: StreamSink | None, feed: str, timeout: float = 30.0
) -> PassOutcome:
    """Fetch the feed (an http(s) URL, a file path or a file:// URL), publish its new
    articles to the stream the server reads (`broker_sink`, or the database's embedded
    queue) and record its malformed entries. Raises FeedError when the feed is unreadable."""
    topic = NewsSettings().topic
    store = NewsStore(database)
    await store.start()
    sink = stream_sink(broker_sink, store, topic)
    try:
        await sink.start()
        producer = NewsProducer(store, sink, topic, NewsMetrics(CollectorRegistry()))
        async with httpx.AsyncClient(headers={"User-Agent": "inferline-news"}) as client:
            return await producer.produce(feed, client, timeout)
    finally:
        await sink.close()
        await store.close()


__all__ = ["FeedError", "produce_once"]
