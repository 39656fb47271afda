"""Normalising what feeds send: HTML to text, whitespace, dates to UTC, canonical URLs."""

from __future__ import annotations

import calendar
import html
import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_WHITESPACE = re.compile(r"\s+")
_SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript"})
_BLOCK_TAGS = frozenset({"p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr"})
# Query parameters that only track the reader: the same article with or without them is one.
_TRACKING_PARAMS = re.compile(r"^(utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ref_src|cmpid)$", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment, skipping scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def storable(value: str) -> str:
    """Without NUL characters and unpaired surrogates: JSON allows both, no database
    stores them (a surrogate becomes U+FFFD)."""
    return _UNPAIRED_SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def collapse_whitespace(value: str) -> str:
    """Runs of whitespace (newlines, tabs, non-breaking spaces) become one space; trimmed."""
    return _WHITESPACE.sub(" ", value.replace("\u00a0", " ")).strip()


def html_to_text(value: str) -> str:
    """The readable text of an HTML fragment: tags dropped, entities decoded, whitespace
    collapsed. Plain text passes through (with its entities decoded)."""
    if "<" not in value:
        return collapse_whitespace(html.unescape(value))
    parser = _TextOnly()
    parser.feed(value)
    parser.close()
    return collapse_whitespace("".join(parser.parts))


def canonical_url(value: str) -> str:
    """One spelling per address: scheme and host lower-case, default port, fragment and
    tracking parameters dropped, an empty path as `/`. Raises ValueError unless http(s)."""
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("must be an http:// or https:// URL")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("must name a host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if ":" in host:  # an IPv6 literal keeps its brackets
        netloc = f"[{host}]" if port in (None, _DEFAULT_PORTS[scheme]) else f"[{host}]:{port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING_PARAMS.match(k)
        ]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def to_utc(value: datetime | str | float | int | time.struct_time) -> datetime:
    """A moment as an aware UTC datetime. Naive datetimes and struct_times (feedparser's
    `*_parsed`, already UTC) are read as UTC; strings may be ISO-8601 or RFC 822 (RSS)."""
    if isinstance(value, time.struct_time):
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    if isinstance(value, bool):
        raise ValueError("a date cannot be a boolean")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        value = _parse_date(value.strip())
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse_date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"not a date: {text[:60]!r} (use ISO-8601 or RFC 822)") from None
