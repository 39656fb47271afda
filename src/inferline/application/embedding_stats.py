"""Counters and a latency window for `GET /stats` (source S3's statistics)."""

from __future__ import annotations

import time
from collections import deque

import numpy as np

LATENCY_WINDOW = 10_000


class EmbeddingStats:
    """Requests, texts, cache hits and misses, and the latencies of recent requests."""

    def __init__(self, window: int = LATENCY_WINDOW) -> None:
        self.requests = 0
        self.texts = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.started_at = time.time()
        self._latencies: deque[float] = deque(maxlen=window)

    def record(self, texts: int, hits: int, misses: int, seconds: float) -> None:
        """One finished request."""
        self.requests += 1
        self.texts += texts
        self.cache_hits += hits
        self.cache_misses += misses
        self._latencies.append(seconds)

    @property
    def hit_rate(self) -> float:
        looked_up = self.cache_hits + self.cache_misses
        return self.cache_hits / looked_up if looked_up else 0.0

    def latency_ms(self) -> dict[str, float | None]:
        """p50/p95/p99 of the last requests, in milliseconds (None before the first)."""
        if not self._latencies:
            return {"p50": None, "p95": None, "p99": None}
        values = np.percentile(np.fromiter(self._latencies, dtype=np.float64), [50, 95, 99])
        return {
            name: round(float(v) * 1000, 3)
            for name, v in zip(("p50", "p95", "p99"), values, strict=True)
        }
