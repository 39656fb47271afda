"""The dashboard's News view in a real headless Chromium: articles appear as they are
analysed (pushed over WS /api/v1/news/ws), with topic counts and each analyser's success
rate; a feed added from the form is polled and its articles show up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.testing.news_feeds import FeedServer, make_items, rss
from inferline.testing.server import ServerProcess, http_server
from tests.support.browser import dashboard_page

TIMEOUT_MS = 30_000


@pytest.fixture
def news_server(tmp_path: Path, db_url: str) -> Iterator[ServerProcess]:
    server = http_server(
        "serve", db_url, tmp_path / "server.log", models="minilm", news_poll_tick_seconds="0.2"
    )
    server.start().wait_ready()
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with dashboard_page(browser, height=1200, timeout_ms=TIMEOUT_MS) as page:
        yield page


def test_the_news_view_shows_articles_topics_and_analysers_live(
    news_server: ServerProcess, artifacts_dir: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    items = make_items(8)
    articles = [
        {"title": i.title, "content": i.description, "url": i.link, "source": "Example News"}
        for i in items[:5]
    ]
    with httpx.Client(base_url=news_server.url, timeout=60) as client:
        assert client.post("/inference/batch", json={"articles": articles}).status_code == 200

    page.goto(f"{news_server.url}/#/news")
    expect(page.get_by_test_id("news-connection")).to_have_text("live")
    expect(page.get_by_test_id("news-analysed")).to_have_text("5")
    expect(page.locator('[data-testid="news-articles"] tbody tr[data-article-id]')).to_have_count(5)
    expect(page.get_by_test_id("news-articles")).to_contain_text(items[0].title)
    expect(page.locator('[data-testid="news-topics"] tbody tr[data-topic]').first).to_be_visible()
    sentiment = page.locator('tr[data-analyser="sentiment"]')
    expect(sentiment).to_contain_text("100.0 %")
    expect(page.locator('tr[data-analyser="summary"]')).to_contain_text("5")  # skipped: no LLM

    # A feed from the form: a bad URL is refused with the reason, a good one is polled.
    page.get_by_test_id("feed-url").fill("ftp://feeds.example.com/rss")
    page.get_by_test_id("add-feed").click()
    expect(page.get_by_test_id("feed-problem")).to_contain_text("http")
    feed = FeedServer(body=rss(items)).start()
    try:
        page.get_by_test_id("feed-url").fill(feed.url)
        page.get_by_test_id("add-feed").click()
        expect(page.locator(f'tr[data-feed-url="{feed.url}"]')).to_be_visible()
        # the five posted articles are known: the feed adds the other three, pushed live
        expect(page.get_by_test_id("news-analysed")).to_have_text("8")
        page.get_by_test_id("refresh-feeds").click()
        expect(page.locator(f'tr[data-feed-url="{feed.url}"]')).to_contain_text(
            re.compile(r"\d\d:\d\d")
        )
    finally:
        feed.stop()
    page.screenshot(path=str(artifacts_dir / "dashboard-news.png"), full_page=True)
