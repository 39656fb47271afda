"""News articles: what the validators normalise, how feeds become articles or rejects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from inferline.apps.news.analysers import first_sentence
from inferline.apps.news.feeds import FeedError, parse
from inferline.apps.news.models import RawNewsArticle
from inferline.apps.news.producer import backoff_seconds
from inferline.apps.news.text import canonical_url, html_to_text

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Example News</title>
<item><title>Stocks &lt;b&gt;surge&lt;/b&gt; as   inflation cools</title>
<link>HTTPS://News.Example.com:443/a?utm_source=rss&amp;id=1#top</link><guid>a-1</guid>
<description><![CDATA[<p>Markets rallied<br/>strongly.<script>track()</script></p>]]></description>
<pubDate>Tue, 01 Dec 2026 09:30:00 +0100</pubDate></item>
<item><title></title><link>https://news.example.com/no-title</link></item>
<item><title>No link at all</title></item>
<item><title>Bad date</title><link>https://news.example.com/c</link><pubDate>soon</pubDate></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom Times</title>
<entry><title>Rover finds water ice</title><id>urn:uuid:1</id>
<link href="http://science.example.org/ice"/><updated>2026-12-02T10:00:00Z</updated>
<content type="html">&lt;p&gt;The rover found ice.&lt;/p&gt;</content></entry>
</feed>"""


def test_an_article_is_normalised() -> None:
    article = RawNewsArticle.model_validate(
        {
            "title": "  <i>Big</i>\n\tnews&amp;more ",
            "content": "<div>one</div><div>two&nbsp;three</div><style>p{}</style>",
            "url": "HTTP://Example.COM:80?utm_medium=x&b=2#frag",
            "published_at": "2026-12-01T10:00:00+02:00",
            "source": "  Daily   Example ",
        }
    )
    assert article.title == "Big news&more"
    assert article.content == "one two three"
    assert article.url == "http://example.com/?b=2"
    assert article.published_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert article.source == "Daily Example"


def test_naive_and_rfc822_dates_become_utc() -> None:
    naive = RawNewsArticle.model_validate(
        {"title": "t", "url": "https://e.com/1", "published_at": "2026-12-01T10:00:00"}
    )
    rfc = RawNewsArticle.model_validate(
        {"title": "t", "url": "https://e.com/1", "published_at": "Tue, 01 Dec 2026 10:00:00 GMT"}
    )
    assert naive.published_at == rfc.published_at == datetime(2026, 12, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"title": "<p> </p>", "url": "https://e.com/"}, "title"),
        ({"title": "t", "url": "ftp://e.com/file"}, "url"),
        ({"title": "t", "url": "https:///nohost"}, "url"),
        ({"title": "t", "url": "https://e.com/", "published_at": "someday"}, "published_at"),
        ({"title": "t", "url": "https://e.com/", "surprise": 1}, "surprise"),
    ],
)
def test_bad_articles_are_refused_naming_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RawNewsArticle.model_validate(values)
    assert field in str(caught.value)


def test_the_id_follows_the_guid_else_the_canonical_url() -> None:
    one = RawNewsArticle(title="a", url="https://e.com/x?utm_source=a")
    same = RawNewsArticle(title="b", url="HTTPS://E.com/x#part")
    assert one.article_id == same.article_id
    with_guid = RawNewsArticle(title="a", url="https://e.com/x", guid="g-1")
    moved = RawNewsArticle(title="a", url="https://e.com/y", guid="g-1")
    assert with_guid.article_id == moved.article_id != one.article_id


def test_rss_entries_become_articles_and_malformed_ones_rejects_with_reasons() -> None:
    feed = parse(RSS, "feed.xml")
    assert [a.title for a in feed.articles] == ["Stocks surge as inflation cools"]
    article = feed.articles[0]
    assert article.url == "https://news.example.com/a?id=1"
    assert article.content == "Markets rallied strongly."
    assert article.source == "Example News"
    assert article.guid == "a-1"
    assert article.published_at == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    reasons = {r.entry: r.reason for r in feed.rejects}
    assert set(reasons) == {
        "https://news.example.com/no-title",
        "No link at all",
        "https://news.example.com/c",
    }
    assert "title" in reasons["https://news.example.com/no-title"]
    assert "url" in reasons["No link at all"]
    assert "published_at" in reasons["https://news.example.com/c"]


def test_atom_entries_become_articles() -> None:
    (article,) = parse(ATOM, "atom.xml").articles
    assert article.title == "Rover finds water ice"
    assert article.url == "http://science.example.org/ice"
    assert article.content == "The rover found ice."
    assert article.source == "Atom Times"
    assert article.published_at == datetime(2026, 12, 2, 10, tzinfo=UTC)


def test_a_document_that_is_not_a_feed_is_a_feed_error() -> None:
    with pytest.raises(FeedError, match="not a feed"):
        parse(b"<html><body>Not found</body></html>", "page")


def test_text_no_database_can_store_is_replaced() -> None:
    article = RawNewsArticle.model_validate({"title": "a\ud800b\x00c", "url": "https://e.com/"})
    assert article.title == "a\ufffdbc"


def test_helpers() -> None:
    assert html_to_text("a &lt; b") == "a < b"
    assert canonical_url("https://[::1]:8443/x") == "https://[::1]:8443/x"
    assert first_sentence('Summary: "Rates rise. Markets fall."') == "Rates rise."
    assert first_sentence("  ") == ""
    assert first_sentence('"Rates rise." Markets fall.') == "Rates rise."  # a quoted sentence
    assert [backoff_seconds(10, n, 3600) for n in (1, 2, 3, 20)] == [20, 40, 80, 3600]
