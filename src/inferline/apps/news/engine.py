"""The analysis engine: each article fanned out to every analyser at once (`asyncio.gather`),
under one semaphore (`max_concurrent` analyser calls in flight, all articles together).

A failing analyser leaves the others' results: its `AnalysisResult` records the error
and the time it took. A transient failure (an overloaded or loading model, a dropped
connection) is retried with exponential backoff and jitter, up to `tries` times.
Analysers whose result is already stored for the article (a redelivered stream
record, the same article posted twice) are not run again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from inferline.apps.news.analysers import Analyser, ArticleContext, Embedder, Skipped, Vector
from inferline.apps.news.metrics import NewsMetrics
from inferline.apps.news.models import AnalysisResult, AnalysisStatus, RawNewsArticle
from inferline.domain.errors import DeadlineExceeded, Overloaded, Unavailable

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500
# Worth trying again at once: a full batcher, a model still loading, a dropped connection.
# Anything else (no such model, a bad input, a bug) would fail the same way again.
TRANSIENT = (Overloaded, Unavailable, DeadlineExceeded, TimeoutError, ConnectionError)


@dataclass
class ArticleAnalysis:
    """An article and its analysers' results: those run now and those stored before."""

    article: RawNewsArticle
    origin: str
    results: dict[str, AnalysisResult]
    fresh: list[str] = field(default_factory=list)
    """Analysers run now (whose results are to be stored)."""
    embedding: Vector | None = None


class AnalysisEngine:
    """Runs the analysers of many articles concurrently, within one concurrency limit."""

    def __init__(
        self,
        analysers: list[Analyser],
        embedder: Embedder,
        metrics: NewsMetrics,
        *,
        max_concurrent: int = 20,
        tries: int = 3,
        retry_base_seconds: float = 0.2,
    ) -> None:
        self.analysers = analysers
        self.embedder = embedder
        self.metrics = metrics
        self.max_concurrent = max_concurrent
        self.tries = tries
        self.retry_base_seconds = retry_base_seconds
        self._slots = asyncio.Semaphore(max_concurrent)

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: 50-100 % of base * 2^(attempt-1)."""
        return self.retry_base_seconds * 2.0 ** (attempt - 1) * random.uniform(0.5, 1.0)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.analysers]

    async def analyse_many(
        self,
        articles: list[RawNewsArticle],
        stored: dict[str, dict[str, AnalysisResult]],
        origin: str,
    ) -> list[ArticleAnalysis]:
        """Every article at once; `stored` holds results kept from earlier runs, by id."""
        return list(
            await asyncio.gather(
                *(self.analyse(a, stored.get(a.article_id, {}), origin) for a in articles)
            )
        )

    async def analyse(
        self, article: RawNewsArticle, stored: dict[str, AnalysisResult], origin: str
    ) -> ArticleAnalysis:
        """Run the analysers without a stored usable result (ok or skipped) on the article."""
        done = {n: r for n, r in stored.items() if r.status is not AnalysisStatus.FAILED}
        todo = [a for a in self.analysers if a.name not in done]
        context = ArticleContext(article, self.embedder)
        fresh = await asyncio.gather(*(self._run(a, context, stored.get(a.name)) for a in todo))
        results = {**stored, **{r.analyser: r for r in fresh}}
        return ArticleAnalysis(
            article, origin, results, [r.analyser for r in fresh], context.vector
        )

    async def _run(
        self, analyser: Analyser, context: ArticleContext, before: AnalysisResult | None
    ) -> AnalysisResult:
        attempts = before.attempts if before is not None else 0
        output: dict[str, Any] | None = None
        error: str | None = None
        async with self._slots:
            started = time.perf_counter()
            for attempt in range(1, self.tries + 1):
                attempts += 1
                try:
                    output = await analyser.analyse(context)
                except Skipped as skip:
                    status, output, error = AnalysisStatus.SKIPPED, None, str(skip)
                except Exception as exc:
                    status, output, error = AnalysisStatus.FAILED, None, _describe(exc)
                    if isinstance(exc, TRANSIENT) and attempt < self.tries:
                        await asyncio.sleep(self.retry_delay(attempt))
                        continue
                    log.warning("analyser %s failed: %s", analyser.name, error)
                else:
                    status, error = AnalysisStatus.OK, None
                break
            latency = time.perf_counter() - started
        self.metrics.observe_analyser(analyser.name, status.value, latency)
        return AnalysisResult(
            analyser=analyser.name,
            status=status,
            output=output,
            error=error,
            latency_ms=round(latency * 1000, 3),
            attempts=attempts,
            analysed_at=datetime.now(UTC),
        )


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}"[:MAX_ERROR_CHARS]
