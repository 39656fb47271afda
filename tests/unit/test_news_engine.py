"""The analysis engine: analysers run at once under the semaphore, a failing one leaves
the others' results, and analysers with a stored result are not run again."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry

from inferline.apps.news.analysers import (
    ArticleContext,
    KeywordAnalyser,
    SentimentAnalyser,
    SummaryAnalyser,
    Vector,
)
from inferline.apps.news.engine import AnalysisEngine
from inferline.apps.news.metrics import NewsMetrics
from inferline.apps.news.models import AnalysisStatus, RawNewsArticle
from inferline.domain.errors import Overloaded

ARTICLE = RawNewsArticle(
    title="Team wins the championship in a thrilling final",
    content="Fans celebrated across the city after the dramatic victory.",
    url="https://sport.example.com/final",
)


async def no_embedder(texts: list[str]) -> list[Vector]:
    raise AssertionError("these analysers need no embedding")


class Broken:
    """An analyser whose backend answers nonsense (not worth retrying at once)."""

    name: ClassVar[str] = "broken"

    def __init__(self) -> None:
        self.calls = 0

    async def analyse(self, context: ArticleContext) -> dict[str, Any]:
        self.calls += 1
        raise ValueError("backend answered nonsense")


class Flaky:
    """An analyser whose model is overloaded at first."""

    name: ClassVar[str] = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def analyse(self, context: ArticleContext) -> dict[str, Any]:
        if self.failures:
            self.failures -= 1
            raise Overloaded("the batcher is full", retry_after=0.01)
        return {"fine": True}


class Slow:
    """An analyser that records how many of its kind run at once."""

    name: ClassVar[str] = "slow"

    def __init__(self) -> None:
        self.running = 0
        self.most = 0

    async def analyse(self, context: ArticleContext) -> dict[str, Any]:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        return {}


async def test_a_failing_analyser_leaves_the_others_results() -> None:
    registry = CollectorRegistry()
    metrics = NewsMetrics(registry)
    broken = Broken()
    engine = AnalysisEngine(
        [SentimentAnalyser(), KeywordAnalyser(), broken, SummaryAnalyser(None)],
        no_embedder,
        metrics,
    )
    analysis = await engine.analyse(ARTICLE, {}, "api")
    results = analysis.results
    assert results["sentiment"].status is AnalysisStatus.OK
    assert results["sentiment"].output is not None
    assert results["sentiment"].output["label"] == "positive"
    assert results["keywords"].status is AnalysisStatus.OK
    assert results["broken"].status is AnalysisStatus.FAILED
    assert results["broken"].error == "ValueError: backend answered nonsense"
    assert broken.calls == 1
    assert results["broken"].latency_ms >= 0
    assert results["summary"].status is AnalysisStatus.SKIPPED
    assert results["summary"].error is not None and "no LLM configured" in results["summary"].error
    assert sorted(analysis.fresh) == ["broken", "keywords", "sentiment", "summary"]
    counted = registry.get_sample_value(
        "inferline_news_analyser_results_total", {"analyser": "broken", "status": "failed"}
    )
    assert counted == 1


async def test_stored_results_are_not_run_again_but_failed_ones_are() -> None:
    broken = Broken()
    engine = AnalysisEngine(
        [SentimentAnalyser(), broken], no_embedder, NewsMetrics(CollectorRegistry())
    )
    first = await engine.analyse(ARTICLE, {}, "feed")
    again = await engine.analyse(ARTICLE, first.results, "feed")
    assert again.fresh == ["broken"]  # the stored sentiment is kept, the failure retried
    assert again.results["sentiment"] == first.results["sentiment"]
    assert again.results["broken"].attempts == 2
    assert broken.calls == 2


async def test_a_transient_failure_is_retried_with_backoff() -> None:
    metrics = NewsMetrics(CollectorRegistry())
    engine = AnalysisEngine([Flaky(2)], no_embedder, metrics, retry_base_seconds=0.001)
    analysis = await engine.analyse(ARTICLE, {}, "feed")
    assert analysis.results["flaky"].status is AnalysisStatus.OK
    assert analysis.results["flaky"].attempts == 3
    gave_up = await AnalysisEngine(
        [Flaky(5)], no_embedder, metrics, tries=2, retry_base_seconds=0.001
    ).analyse(ARTICLE, {}, "feed")
    assert gave_up.results["flaky"].status is AnalysisStatus.FAILED
    assert gave_up.results["flaky"].error == "Overloaded: the batcher is full"
    assert gave_up.results["flaky"].attempts == 2


async def test_the_semaphore_bounds_analyser_calls_across_articles() -> None:
    slow = Slow()
    engine = AnalysisEngine([slow], no_embedder, NewsMetrics(CollectorRegistry()), max_concurrent=3)
    articles = [RawNewsArticle(title=f"article {i}", url=f"https://e.com/{i}") for i in range(12)]
    await engine.analyse_many(articles, {}, "feed")
    assert slow.most == 3
