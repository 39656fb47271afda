"""News feeds for tests, benchmarks and the README's try-it: realistic RSS documents made
here (no download), and a feed server that serves them over HTTP and records its requests.

`python -m inferline.testing.news_feeds feed.xml --items 50` writes a feed file.
"""

from __future__ import annotations

import argparse
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

# (topic, headline template, lead template); {who}, {what}, {where} are filled in.
STORIES: list[tuple[str, str, str]] = [
    (
        "business",
        "{who} shares surge after record quarterly profits",
        "Investors cheered as {who} beat forecasts, lifting the market in {where}.",
    ),
    (
        "business",
        "{who} to cut thousands of jobs as sales slump",
        "The company blamed weak demand and rising costs; unions in {where} condemned it.",
    ),
    (
        "politics",
        "Parliament in {where} passes {what} reform after heated debate",
        "Lawmakers approved the bill by a narrow margin; the opposition vowed to fight it.",
    ),
    (
        "politics",
        "Election in {where}: {who} concedes defeat",
        "Voters turned out in large numbers; the new government promised stability.",
    ),
    (
        "technology",
        "{who} unveils new AI chip that doubles performance",
        "The processor, built for data centres, ships next year; analysts praised the design.",
    ),
    (
        "technology",
        "Major outage hits {who} cloud services across {where}",
        "Customers were unable to log in for hours; the company apologised for the disruption.",
    ),
    (
        "science",
        "Astronomers discover {what} orbiting a nearby star",
        "The finding, published today, could help explain how planets like Earth form.",
    ),
    (
        "health",
        "New vaccine for {what} shows strong results in trials",
        "Doctors in {where} said the treatment cut hospital admissions sharply.",
    ),
    (
        "health",
        "Hospitals in {where} overwhelmed as {what} cases rise",
        "Health officials warned of long waits and urged people to stay home if sick.",
    ),
    (
        "sports",
        "{who} wins thrilling final in {where}",
        "Fans celebrated late into the night after a dramatic victory in extra time.",
    ),
    (
        "sports",
        "Star player injured as {who} crash out of the cup",
        "The team's coach called the defeat painful and disappointing.",
    ),
    (
        "entertainment",
        "{who} film tops box office in {where}",
        "Critics loved the performances, and audiences queued around the block.",
    ),
    (
        "environment",
        "Floods devastate towns in {where} after record rainfall",
        "Thousands were evacuated; scientists linked the storm to climate change.",
    ),
    (
        "environment",
        "{where} opens its largest solar farm to cut emissions",
        "The plant will power two hundred thousand homes with clean energy.",
    ),
    (
        "world",
        "Peace talks between rivals resume in {where}",
        "Diplomats expressed cautious hope that the ceasefire would hold.",
    ),
    (
        "world",
        "Protests erupt in {where} over rising prices",
        "Police used tear gas as crowds demanded the government resign.",
    ),
]
WHO = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Group",
    "Northwind",
    "Contoso",
    "the national team",
    "City FC",
    "Helios Labs",
    "Orbital Systems",
]
WHERE = [
    "Berlin",
    "Lagos",
    "Seoul",
    "Lima",
    "Toronto",
    "Mumbai",
    "Madrid",
    "Nairobi",
    "Sydney",
    "Oslo",
]
WHAT = [
    "pension",
    "tax",
    "malaria",
    "influenza",
    "a giant planet",
    "a water world",
    "housing",
    "energy",
]


@dataclass(frozen=True)
class FeedItem:
    topic: str
    title: str
    description: str
    link: str
    guid: str
    published: datetime


def make_items(
    count: int, *, seed: int = 7, start: int = 0, site: str = "news.example.com"
) -> list[FeedItem]:
    """`count` distinct articles (ids `start`…), as varied as the templates allow."""
    rng = random.Random(seed + start)
    base = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    items = []
    for n in range(start, start + count):
        topic, headline, lead = STORIES[rng.randrange(len(STORIES))]
        words = {"who": rng.choice(WHO), "where": rng.choice(WHERE), "what": rng.choice(WHAT)}
        title = headline.format(**words)
        title = title[0].upper() + title[1:]
        body = lead.format(**words)
        description = f"<p>{body}</p><p>Story {n}: more details as they emerge.</p>"
        items.append(
            FeedItem(
                topic=topic,
                title=title,
                description=description,
                link=f"https://{site}/{topic}/{n}?utm_source=rss",
                guid=f"{site}/story/{n}",
                published=base + timedelta(minutes=n),
            )
        )
    return items


def rss(items: list[FeedItem], *, title: str = "Example News", malformed: int = 0) -> bytes:
    """An RSS 2.0 document of `items`, plus `malformed` entries without a link or title."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://news.example.com/</link>",
        "<description>Generated news</description>",
    ]
    for item in items:
        parts.append(
            "<item>"
            f"<title>{escape(item.title)}</title>"
            f"<link>{escape(item.link)}</link>"
            f'<guid isPermaLink="false">{escape(item.guid)}</guid>'
            f"<description>{escape(item.description)}</description>"
            f"<category>{item.topic}</category>"
            f"<pubDate>{format_datetime(item.published)}</pubDate>"
            "</item>"
        )
    for n in range(malformed):
        if n % 2:
            parts.append(f"<item><title>No link {n}</title><guid>broken-{n}</guid></item>")
        else:
            parts.append(f"<item><link>https://news.example.com/untitled/{n}</link></item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


@dataclass
class FeedServer:
    """Serves `body` at any path with `status`; both may be changed while it runs. Records
    each request's path. `url` is `http://127.0.0.1:<port>/feed.xml`."""

    body: bytes = b""
    status: int = 200
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/feed.xml"

    def start(self) -> FeedServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a generated RSS news feed.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--malformed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="the first story's number")
    args = parser.parse_args()
    args.path.write_bytes(rss(make_items(args.items, start=args.start), malformed=args.malformed))
    print(f"{args.path}: {args.items} articles, {args.malformed} malformed entries")


if __name__ == "__main__":
    main()
