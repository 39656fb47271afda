"""The recommendation app's Prometheus metrics, on the process's registry (`/metrics`):
the source's `recommendation_generation_time` and `cache_hit_rate`, and the fallbacks."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from inferline.core.metrics import LATENCY_BUCKETS


class RecsysMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.generation_seconds = Histogram(
            "inferline_recsys_recommendation_generation_seconds",
            "Time to compute a user's recommendations (cache misses), by whether the LLM "
            "component took part.",
            ["llm"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.cache_lookups = Counter(
            "inferline_recsys_cache_lookups",
            "Cache lookups by key kind (user, popular, similar, trending, preference) and "
            "outcome (hit, miss): the cache hit rate.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "inferline_recsys_fallbacks",
            "Answers given without a part: the part (content, collaborative, llm, reply, "
            "embedding) that was unavailable.",
            ["part"],
            registry=registry,
        )

    def lookup(self, kind: str, hit: bool) -> None:
        self.cache_lookups.labels(kind, "hit" if hit else "miss").inc()
