"""Source S0's news stream through the front door: a feed served over HTTP is registered,
polled, published to `news.raw` (the embedded queue, or Redis Streams on a real
server), analysed and read back over the API; malformed entries, a failing feed and
its backoff, analyser failure isolation, deduplication, and a SIGKILL mid-stream
that leaves every article stored analysed exactly once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.testing import databases as dbs
from inferline.testing.news_feeds import FeedServer, make_items, rss
from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import ServerProcess, http_server, server_env
from inferline.testing.services import PrivateKafka
from tests.support.requirements import require_server
from tests.support.servers import metric_value

ANALYSERS = ["embedding", "keywords", "sentiment", "summary", "topics"]
FAST = {"news_poll_tick_seconds": "0.2", "news_batch_timeout_seconds": "0.3"}
TIMEOUT = 90.0


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "redis", "kafka"])
def stream_settings(request: pytest.FixtureRequest, kafka_prefix: str) -> Iterator[dict[str, str]]:
    """The stream `news.raw`: the database's embedded queue, Redis Streams, or Kafka."""
    if request.param == "embedded":
        yield {}
        return
    if request.param == "kafka":
        broker: PrivateKafka = request.getfixturevalue("kafka_broker")
        yield {
            "streams_url": broker.url,
            "kafka_topic_prefix": kafka_prefix,
            "kafka_session_timeout_ms": "6000",
        }
        return
    require_server(dbs.REDIS)
    prefix = dbs.unique_name("inferline-test")
    url = dbs.redis_url()
    yield {"streams_url": url, "cache_url": url, "redis_prefix": prefix}
    asyncio.run(dbs.delete_redis_prefix(prefix))


async def cached_latest(settings: dict[str, str]) -> list[dict[str, Any]]:
    """The latest analysed articles as the news service cached them in Redis."""
    from redis.asyncio import Redis

    client = Redis.from_url(settings["cache_url"])
    try:
        value = await client.get(f"{settings['redis_prefix']}:cache:news:latest")
    finally:
        await client.aclose()
    assert value is not None, "nothing cached under news:latest"
    latest: list[dict[str, Any]] = json.loads(value)
    return latest


def articles(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every stored article matching `params`, following the cursor."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 50, **({"cursor": cursor} if cursor else {})}
        page = json_answer(client.get("/api/v1/news/articles", params=query))
        found += page["articles"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def wait_analysed(client: httpx.Client, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = poll_until(
        lambda: [a for a in articles(client) if a["status"] == "analysed"],
        f"{count} analysed articles",
        timeout=TIMEOUT,
        accept=lambda analysed: len(analysed) >= count,
        interval=0.2,
    )
    return found


def test_a_polled_feed_becomes_analysed_articles(
    tmp_path: Path, db_url: str, feed_server: FeedServer, stream_settings: dict[str, str]
) -> None:
    items = make_items(12)
    feed_server.body = rss(items, malformed=2)
    server = http_server(
        "serve", db_url, tmp_path / "server.log", models="minilm", **FAST, **stream_settings
    )
    server.start().wait_ready()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            registered = client.post(
                "/api/v1/news/feeds", json={"url": feed_server.url, "interval_seconds": 1}
            )
            assert registered.status_code == 201, registered.text
            again = client.post(
                "/api/v1/news/feeds", json={"url": feed_server.url, "interval_seconds": 2}
            )
            assert again.status_code == 200 and again.json()["id"] == registered.json()["id"]

            analysed = wait_analysed(client, 12)
            by_url = {a["url"]: a for a in analysed}
            assert sorted(by_url) == sorted(i.link.removesuffix("?utm_source=rss") for i in items)
            first = by_url[items[0].link.removesuffix("?utm_source=rss")]
            assert first["title"] == items[0].title
            assert "<p>" not in first["content"] and first["content"].startswith(
                items[0].description[3:20]
            )
            assert datetime.fromisoformat(first["published_at"]) == items[0].published
            assert first["sentiment"] in ("positive", "neutral", "negative")
            assert first["keywords"] and first["has_embedding"]
            assert [r["analyser"] for r in first["results"]] == ANALYSERS
            status = {r["analyser"]: r for r in first["results"]}
            assert all(status[n]["status"] == "ok" for n in ANALYSERS if n != "summary")
            assert status["summary"]["status"] == "skipped"
            assert "LLM" in status["summary"]["error"]
            topics_right = sum(
                a["topic"] == i.topic
                for a, i in zip(
                    [by_url[i.link.removesuffix("?utm_source=rss")] for i in items],
                    items,
                    strict=True,
                )
            )
            assert topics_right >= 8, f"zero-shot topics right for only {topics_right} of 12"

            # Polled again and again: the same articles are not published twice.
            polls = len(feed_server.requests)
            poll_until(
                lambda: len(feed_server.requests),
                "two more polls",
                timeout=TIMEOUT,
                accept=lambda n: n >= polls + 2,
                interval=0.2,
            )
            assert len(articles(client)) == 12
            (feed,) = json_answer(client.get("/api/v1/news/feeds"))["feeds"]
            assert feed["articles_published"] == 12 and feed["failures"] == 0
            assert feed["last_error"] is None and feed["entries_rejected_last_poll"] == 2

            rejects = json_answer(client.get("/api/v1/news/rejects"))["rejects"]
            assert sorted(r["reason"].split(":")[1].strip() for r in rejects) == ["title", "url"]

            one = json_answer(client.get(f"/api/v1/news/articles/{first['id']}"))
            assert one["id"] == first["id"] and one["results"] == first["results"]
            similar = json_answer(client.get(f"/api/v1/news/articles/{first['id']}/similar?k=3"))
            assert len(similar["similar"]) == 3
            assert first["id"] not in [s["article"]["id"] for s in similar["similar"]]

            if "cache_url" in stream_settings:  # Redis: the latest are cached there too
                latest = asyncio.run(cached_latest(stream_settings))
                assert sorted(a["id"] for a in latest) == sorted(a["id"] for a in analysed)

            poll_until(
                lambda: json_answer(client.get("/api/v1/news/stats"))["stream_lag"],
                "the stream lag measured at 0",
                timeout=TIMEOUT,
                accept=lambda lag: lag == 0,
                interval=0.2,
            )
            metrics = client.get("/metrics").text
            assert metric_value(metrics, "inferline_news_stream_lag", topic="news.raw") == 0
            assert metric_value(metrics, "inferline_news_articles_in_total", origin="feed") == 12
            assert (
                metric_value(metrics, "inferline_news_articles_analysed_total", origin="feed") == 12
            )
            assert (
                metric_value(
                    metrics,
                    "inferline_news_analyser_results_total",
                    analyser="summary",
                    status="skipped",
                )
                == 12
            )
    finally:
        server.stop()


def test_a_failing_feed_backs_off_shows_its_error_and_recovers(
    tmp_path: Path, db_url: str, feed_server: FeedServer
) -> None:
    feed_server.status, feed_server.body = 503, b"down for maintenance"
    server = http_server("serve", db_url, tmp_path / "server.log", models="moving-average", **FAST)
    server.start().wait_ready()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.post("/api/v1/news/feeds", json={"url": feed_server.url, "interval_seconds": 1})

            def feed() -> dict[str, Any]:
                feeds: list[dict[str, Any]] = json_answer(client.get("/api/v1/news/feeds"))["feeds"]
                return feeds[0]

            failing = poll_until(
                feed,
                "two failed polls",
                timeout=TIMEOUT,
                accept=lambda f: f["failures"] >= 2,
                interval=0.2,
            )
            assert failing["last_error"] == "the feed answered HTTP 503"
            assert failing["backoff_seconds"] >= 4  # 1 s interval, doubled per failure
            assert failing["last_success_at"] is None
            polls = len(feed_server.requests)

            feed_server.status, feed_server.body = 200, rss(make_items(3))
            healed = poll_until(
                feed,
                "a good poll",
                timeout=TIMEOUT,
                accept=lambda f: f["failures"] == 0,
                interval=0.2,
            )
            assert healed["last_error"] is None and healed["articles_published"] == 3
            assert len(feed_server.requests) > polls
            metrics = client.get("/metrics").text
            assert (
                metric_value(metrics, "inferline_news_feed_polls_total", outcome="failed") or 0
            ) >= 2
    finally:
        server.stop()


def test_inference_routes_analyse_now_and_isolate_a_failing_analyser(
    tmp_path: Path, db_url: str
) -> None:
    # No MiniLM served here: the embedding (and the topics that need it) fail, the
    # other analysers' results stand, and the answer is still 200.
    server = http_server("serve", db_url, tmp_path / "server.log", models="moving-average")
    server.start().wait_ready()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            article = {
                "title": "Floods <b>devastate</b> towns after record rainfall",
                "content": "Thousands were evacuated.",
                "url": "https://news.example.com/floods?utm_campaign=x",
                "published_at": "2026-12-01T10:00:00+01:00",
            }
            answer = client.post("/inference/single", json=article)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["title"] == "Floods devastate towns after record rainfall"
            assert body["url"] == "https://news.example.com/floods"
            assert body["published_at"] == "2026-12-01T09:00:00Z"
            results = {r["analyser"]: r for r in body["results"]}
            assert results["sentiment"]["status"] == "ok" and body["sentiment"] == "negative"
            assert results["keywords"]["status"] == "ok"
            assert results["embedding"]["status"] == "failed"
            assert "minilm" in results["embedding"]["error"]
            assert results["topics"]["status"] == "failed"
            assert results["summary"]["status"] == "skipped"
            assert all(r["latency_ms"] >= 0 for r in body["results"])

            # Posted again: the stored results stand; only the failed ones run again.
            second = client.post("/inference/single", json=article).json()
            again = {r["analyser"]: r for r in second["results"]}
            assert again["sentiment"] == results["sentiment"]
            assert again["embedding"]["attempts"] == 2

            batch = client.post(
                "/inference/batch",
                json={"articles": [article, {**article, "url": "https://news.example.com/2"}]},
            )
            assert batch.status_code == 200
            assert batch.json()["articles"][0]["id"] == body["id"]
            assert len(articles(client)) == 2

            for path, payload, field in [
                ("/inference/batch", {"articles": []}, "articles"),
                ("/inference/batch", {"articles": [article] * 101}, "articles"),
                ("/inference/single", {**article, "url": "ftp://x/y"}, "url"),
                ("/inference/single", {**article, "title": "<p> </p>"}, "title"),
                ("/inference/single", {**article, "published_at": "someday"}, "published_at"),
                ("/api/v1/news/feeds", {"url": "file:///etc/passwd"}, "url"),
                (
                    "/api/v1/news/feeds",
                    {"url": "https://e.com/rss", "interval_seconds": 0},
                    "interval_seconds",
                ),
            ]:
                refused = client.post(path, json=payload)
                assert refused.status_code == 422, (path, refused.text)
                assert field in refused.text
            for query, field in [
                ({"sentiment": "happy"}, "sentiment"),
                ({"since": "yesterday"}, "since"),
                ({"cursor": "bogus"}, "cursor"),
            ]:
                refused = client.get("/api/v1/news/articles", params=query)
                assert refused.status_code == 422 and field in refused.text
            missing = client.get("/api/v1/news/articles/00000000-0000-4000-8000-000000000000")
            assert missing.status_code == 404
            no_vector = client.get(f"/api/v1/news/articles/{body['id']}/similar")
            assert no_vector.status_code == 422 and "no embedding" in no_vector.text
            assert len(articles(client)) == 2  # refused requests changed nothing
    finally:
        server.stop()


def produce(db_url: str, feed: Path, **settings: str) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "inferline.cli", "news", "produce", "--feed", str(feed)],
        env=server_env(db_url, **settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    answer: dict[str, Any] = json.loads(run.stdout)
    return answer


@pytest.mark.timeout(300)
def test_a_killed_processor_resumes_without_duplicates(
    tmp_path: Path, db_url: str, stream_settings: dict[str, str]
) -> None:
    total = 150
    feed = tmp_path / "feed.xml"
    feed.write_bytes(rss(make_items(total), malformed=1))
    produced = produce(db_url, feed, **stream_settings)
    assert produced == {"feed": str(feed), "published": total, "duplicates": 0, "rejected": 1}
    assert produce(db_url, feed, **stream_settings)["duplicates"] == total  # nothing twice

    # Redis Streams: the killed consumer's unacknowledged batch is taken over after 5 s
    # (30 s by default); Kafka and the embedded queue ignore the setting
    settings = {
        "models": "minilm",
        "news_batch_size": "5",
        "streams_reclaim_idle_seconds": "5",
        **stream_settings,
    }
    log_path = tmp_path / "server.log"
    server: ServerProcess = http_server("serve", db_url, log_path, **settings)
    server.start().wait_ready()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        before_kill = poll_until(
            lambda: json_answer(client.get("/api/v1/news/stats"))["articles"]["analysed"],
            "some articles analysed",
            timeout=TIMEOUT,
            accept=lambda n: n >= 5,
            interval=0.05,
        )
    server.kill()  # mid-stream: batches read but not committed come back
    assert before_kill < total, "the processor finished before the kill: nothing was tested"

    restarted = http_server("serve", db_url, log_path, **settings)
    restarted.start().wait_ready()
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            analysed = wait_analysed(client, total)
            assert len(analysed) == total and len({a["id"] for a in analysed}) == total
            for article in analysed:
                assert [r["analyser"] for r in article["results"]] == ANALYSERS
            stats = json_answer(client.get("/api/v1/news/stats"))
            assert stats["articles"] == {"total": total, "analysed": total, "queued": 0}
            runs = sum(a["ok"] + a["failed"] + a["skipped"] for a in stats["analysers"])
            assert runs == total * len(ANALYSERS)  # one stored result per article and analyser
    finally:
        restarted.stop()
