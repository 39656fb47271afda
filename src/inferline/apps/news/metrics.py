"""The news stream's Prometheus metrics, on the process's registry (`/metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from inferline.core.metrics import LATENCY_BUCKETS


class NewsMetrics:
    """Articles in, analysed, rejected; each analyser's outcomes and latency; stream lag."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.articles_in = Counter(
            "inferline_news_articles_in",
            "Articles taken in: published to the stream by a feed, or posted to /inference.",
            ["origin"],
            registry=registry,
        )
        self.articles_analysed = Counter(
            "inferline_news_articles_analysed",
            "Articles stored analysed (every analyser ran, whatever its outcome).",
            ["origin"],
            registry=registry,
        )
        self.entries_rejected = Counter(
            "inferline_news_entries_rejected",
            "Feed entries or stream records skipped as malformed, by reason.",
            ["reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            "inferline_news_duplicates",
            "Feed entries skipped because their guid or URL was seen before.",
            registry=registry,
        )
        self.feed_polls = Counter(
            "inferline_news_feed_polls",
            "Feed polls, by outcome (ok, failed).",
            ["outcome"],
            registry=registry,
        )
        self.analyser_results = Counter(
            "inferline_news_analyser_results",
            "Analyser runs by analyser and status (ok, failed, skipped).",
            ["analyser", "status"],
            registry=registry,
        )
        self.analyser_latency = Histogram(
            "inferline_news_analyser_latency_seconds",
            "Time one analyser took for one article.",
            ["analyser"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.stream_lag = Gauge(
            "inferline_news_stream_lag",
            "Records of the news stream not yet processed (consumer lag).",
            ["topic"],
            registry=registry,
        )

    def observe_analyser(self, analyser: str, status: str, seconds: float) -> None:
        self.analyser_results.labels(analyser, status).inc()
        self.analyser_latency.labels(analyser).observe(seconds)
