"""Builds the news stream from the process's settings and shared services.

The stream is Kafka or Redis Streams when a stream broker is configured (the same
adapters as stream routes), the database's embedded queue otherwise; the producer
and processor do not know which.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from inferline.application.data_plane import DataPlane
from inferline.apps.news.analysers import (
    Analyser,
    EmbeddingAnalyser,
    KeywordAnalyser,
    SentimentAnalyser,
    SummaryAnalyser,
    TopicAnalyser,
    Vector,
)
from inferline.apps.news.engine import AnalysisEngine
from inferline.apps.news.metrics import NewsMetrics
from inferline.apps.news.processor import NewsProcessor
from inferline.apps.news.producer import FeedPoller, NewsProducer
from inferline.apps.news.queue import SqlStream
from inferline.apps.news.service import NewsService
from inferline.apps.news.settings import NewsSettings
from inferline.apps.news.store import Database, NewsStore
from inferline.core.settings import Settings
from inferline.ports.cache import Cache
from inferline.ports.llm import ChatModel
from inferline.ports.streams import StreamSink, StreamSource

log = logging.getLogger(__name__)

STREAM_GROUP = "news"  # the processors' consumer group on Kafka / Redis Streams (as a route)


@dataclass
class NewsApp:
    """The news stream of one process: its store, service, producer, and (in processes
    that run them) the feed poller and the stream processor."""

    news_settings: NewsSettings
    settings: Settings
    store: NewsStore
    service: NewsService
    producer: NewsProducer
    sink: StreamSink
    member: str
    background: bool
    wait_ready: Callable[[], Awaitable[None]] | None = None
    broker_source: SourceFactory | None = None
    poller: FeedPoller | None = None
    processor: NewsProcessor | None = None
    _started: set[str] = field(default_factory=set)

    async def start(self) -> None:
        """Connect and start; each part once, so a failed start can simply be called again."""
        if "store" not in self._started:
            await self.store.start()
            self._started.add("store")
        if "sink" not in self._started:
            await self.sink.start()
            self._started.add("sink")
        if not self.background:
            return
        if self.processor is None:
            topic = self.news_settings.topic
            processor = NewsProcessor(
                stream_source(self.sink, self.broker_source, topic, self.member),
                self.service,
                topic,
                batch_size=self.news_settings.batch_size,
                batch_timeout=self.news_settings.batch_timeout_seconds,
                wait_ready=self.wait_ready,
            )
            await processor.start()
            self.processor = processor
        if self.poller is None:
            poller = FeedPoller(
                self.producer,
                tick_seconds=self.news_settings.poll_tick_seconds,
                fetch_timeout=self.news_settings.fetch_timeout_seconds,
                max_backoff_seconds=self.news_settings.max_backoff_seconds,
            )
            await poller.start()
            self.poller = poller

    async def stop(self) -> None:
        if self.poller is not None:
            await self.poller.stop()
        if self.processor is not None:
            await self.processor.stop()
        self.poller = self.processor = None
        if "sink" in self._started:
            await self.sink.close()
        await self.store.close()
        self._started.clear()


SourceFactory = Callable[[str, str], StreamSource]
"""(topic, member) → the broker's source of the topic, as `member` of the processors' group."""


def stream_sink(broker_sink: StreamSink | None, store: NewsStore, topic: str) -> StreamSink:
    """Where the producer publishes: the configured broker, or the embedded queue."""
    return broker_sink if broker_sink is not None else SqlStream(store, topic)


def stream_source(
    sink: StreamSink, broker_source: SourceFactory | None, topic: str, member: str
) -> StreamSource:
    """What the processor reads: the broker's topic, or the embedded queue (the sink)."""
    if isinstance(sink, SqlStream) or broker_source is None:
        assert isinstance(sink, SqlStream), "a broker sink needs a broker source"
        return sink
    return broker_source(topic, member)


def build_news(
    settings: Settings,
    *,
    database: Database,
    plane: DataPlane,
    registry: CollectorRegistry,
    cache: Cache | None,
    chat: ChatModel | None,
    background: bool,
    member: str,
    broker_sink: StreamSink | None = None,
    broker_source: SourceFactory | None = None,
    wait_ready: Callable[[], Awaitable[None]] | None = None,
    news_settings: NewsSettings | None = None,
) -> NewsApp:
    """The news stream wired for one process. `background`: run the poller and processor
    (which starts once `wait_ready` returns: the models are loaded). `broker_sink` and
    `broker_source`: the stream broker's adapters (the stream routes' Kafka or Redis
    Streams), or None for the database's embedded queue. `database`: the job store's
    database and the platform's engines for it. `plane`: the platform's use cases (the
    analysers embed through it)."""
    config = news_settings or NewsSettings()
    metrics = NewsMetrics(registry)
    store = NewsStore(database)

    async def embed(texts: list[str]) -> list[Vector]:
        result = await plane.embed(texts, settings.embedding_model, field="text")
        return [item.embedding for item in result.items]

    analysers: list[Analyser] = [
        SentimentAnalyser(),
        TopicAnalyser(embed, config.topics),
        KeywordAnalyser(),
        SummaryAnalyser(chat, max_tokens=config.summary_max_tokens),
        EmbeddingAnalyser(settings.embedding_model),
    ]
    engine = AnalysisEngine(
        analysers, embed, metrics, max_concurrent=config.max_concurrent_requests
    )
    service = NewsService(
        store, engine, metrics, cache, cache_ttl_seconds=settings.cache_ttl_seconds or 3600.0
    )
    sink = stream_sink(broker_sink, store, config.topic)
    producer = NewsProducer(store, sink, config.topic, metrics)
    return NewsApp(
        config,
        settings,
        store,
        service,
        producer,
        sink,
        member,
        background and config.enabled,
        wait_ready,
        broker_source,
    )
