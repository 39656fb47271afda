"""Reading RSS and Atom feeds (feedparser) from a URL or a file into `RawNewsArticle`s.

A feed that cannot be fetched or is not a feed raises `FeedError` (the poller backs
off and shows it); an entry that cannot become an article is returned as a `Reject`
with the reason, and the rest of the feed goes on.
"""

from __future__ import annotations

import asyncio
import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
from pydantic import ValidationError

from inferline.apps.news.models import MAX_CONTENT_CHARS, RawNewsArticle
from inferline.apps.news.store import Reject
from inferline.apps.news.text import html_to_text
from inferline.core.validation import field_problems, problems_summary

MAX_FEED_BYTES = 50 * 1024 * 1024
USER_AGENT = "inferline-news/1 (+feed reader)"


class FeedError(Exception):
    """The feed as a whole could not be read (unreachable, HTTP error, not a feed)."""


@dataclass
class ParsedFeed:
    """A feed's articles and the entries that were skipped (with their reasons)."""

    title: str | None
    articles: list[RawNewsArticle] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


async def fetch(location: str, client: httpx.AsyncClient, timeout: float) -> bytes:
    """The feed's bytes from an http(s) URL, or from a file (a path or a file:// URL)."""
    if location.startswith(("http://", "https://")):
        try:
            response = await client.get(location, timeout=timeout, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise FeedError(f"cannot fetch the feed: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise FeedError(f"the feed answered HTTP {response.status_code}")
        if len(response.content) > MAX_FEED_BYTES:
            raise FeedError(f"the feed is over {MAX_FEED_BYTES} bytes")
        return response.content
    path = Path(location.removeprefix("file://"))
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise FeedError(f"cannot read the feed file: {exc}") from None


def parse(data: bytes, location: str) -> ParsedFeed:
    """Every entry of an RSS/Atom document as an article, or as a reject with the reason."""
    parsed: Any = feedparser.parse(data)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no RSS or Atom document"
        raise FeedError(f"not a feed: {reason}")
    feed_title = parsed.feed.get("title") or None
    result = ParsedFeed(feed_title)
    for index, entry in enumerate(parsed.entries):
        reference = entry.get("id") or entry.get("link") or entry.get("title") or f"entry {index}"
        try:
            result.articles.append(article_from_entry(entry, feed_title))
        except ValidationError as exc:
            problems = field_problems(exc.errors())
            reason = f"invalid entry: {problems_summary(problems)}"
            result.rejects.append(Reject(location, str(reference), reason))
    return result


def article_from_entry(entry: Any, feed_title: str | None) -> RawNewsArticle:
    """One feedparser entry as an article (raises pydantic's ValidationError)."""
    content = ""
    if entry.get("content"):
        content = entry.content[0].get("value", "")
    content = content or entry.get("summary", "") or ""
    # dict.get: feedparser's own get() maps a missing `updated*` to `published*`, warning
    published = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    source = (entry.get("source") or {}).get("title") or feed_title or "unknown"
    values: dict[str, Any] = {
        "title": entry.get("title", ""),
        "content": html_to_text(content)[:MAX_CONTENT_CHARS],  # long bodies are cut, not lost
        "url": entry.get("link") or "",
        "source": source[:200],
        "author": (entry.get("author") or "")[:200] or None,
        "guid": entry.get("id") or None,
    }
    if published is not None:
        values["published_at"] = _struct_to_iso(published)
    elif dict.get(entry, "published") or dict.get(entry, "updated"):
        values["published_at"] = dict.get(entry, "published") or dict.get(entry, "updated")
    return RawNewsArticle.model_validate(values)


def _struct_to_iso(moment: Any) -> str:
    return datetime.fromtimestamp(calendar.timegm(moment), UTC).isoformat()
