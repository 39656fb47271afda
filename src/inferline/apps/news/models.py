"""The news data: `RawNewsArticle` (normalised on the way in), `AnalysisResult` (one
analyser's outcome) and `AnalyzedNewsArticle` (an article with every analyser's result)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from inferline.apps.news.text import (
    canonical_url,
    collapse_whitespace,
    html_to_text,
    storable,
    to_utc,
)

MAX_TITLE_CHARS = 1_000
MAX_CONTENT_CHARS = 20_000
MAX_URL_CHARS = 2_048
MAX_GUID_CHARS = 1_000
MAX_NAME_CHARS = 200
# Article ids are UUIDs derived from the article's identity (its guid, else its URL):
# the same article read twice, by any process, gets the same id.
ARTICLE_NAMESPACE = uuid.UUID("5f0c2d1e-8b7a-4c39-9a61-3f2e7d4b0c11")


def digest(value: str) -> str:
    """A fixed-length key for a long string (guids and URLs in unique indexes)."""
    return hashlib.sha256(value.encode()).hexdigest()


class RawNewsArticle(BaseModel):
    """An article as a feed (or a client) gives it, normalised: HTML stripped, whitespace
    collapsed, the date in UTC, the URL canonical."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Central bank holds rates as inflation cools",
                    "content": "<p>The central bank kept its key rate unchanged on Tuesday.</p>",
                    "url": "https://news.example.com/economy/rates?utm_source=rss",
                    "source": "Example News",
                    "published_at": "Tue, 01 Dec 2026 09:30:00 +0100",
                }
            ]
        },
    )

    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS * 4)
    content: str = Field(default="", max_length=MAX_CONTENT_CHARS * 4)
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    source: str = Field(default="unknown", max_length=MAX_NAME_CHARS)
    author: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    published_at: Annotated[
        datetime | None,
        # what the validator accepts, so that the schema does not promise less
        WithJsonSchema(
            {
                "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}],
                "description": "ISO-8601, RFC 822 (RSS) or UNIX seconds; stored in UTC "
                "(a time without a zone is UTC); empty means none.",
            }
        ),
    ] = None
    guid: str | None = Field(
        default=None, max_length=MAX_GUID_CHARS, description="The feed's own id of the entry."
    )

    @field_validator("title", "content", "url", "source", "author", "guid", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """No NUL and no unpaired surrogate (JSON allows both; no database stores them)."""
        return storable(value) if isinstance(value, str) else value

    @field_validator("title", mode="after")
    @classmethod
    def _title_text(cls, value: str) -> str:
        text = html_to_text(value)
        if not text:
            raise ValueError("title has no text once HTML and whitespace are removed")
        if len(text) > MAX_TITLE_CHARS:
            raise ValueError(f"title is longer than {MAX_TITLE_CHARS} characters")
        return text

    @field_validator("content", mode="after")
    @classmethod
    def _content_text(cls, value: str) -> str:
        text = html_to_text(value)
        if len(text) > MAX_CONTENT_CHARS:
            raise ValueError(f"content is longer than {MAX_CONTENT_CHARS} characters")
        return text

    @field_validator("url", mode="after")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return canonical_url(value)

    @field_validator("source", "author", "guid", mode="after")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = collapse_whitespace(value)
        return text or None

    @field_validator("source", mode="after")
    @classmethod
    def _named(cls, value: str | None) -> str:
        return value or "unknown"

    @field_validator("published_at", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, datetime | str | int | float) and not isinstance(value, bool):
            try:
                moment = to_utc(value)
            except (OverflowError, OSError) as exc:
                raise ValueError(f"date out of range: {exc}") from None
            if not 1970 <= moment.year <= 9999:
                raise ValueError("date out of range (1970-9999)")
            return moment
        return value

    @property
    def article_id(self) -> str:
        """The article's id: the same for every reading of the same guid (else URL)."""
        return str(uuid.uuid5(ARTICLE_NAMESPACE, self.identity))

    @property
    def identity(self) -> str:
        return f"guid:{self.guid}" if self.guid else f"url:{self.url}"

    @property
    def text(self) -> str:
        """What the analysers read: the title, then the content."""
        if not self.content:
            return self.title
        end = "" if self.title.endswith((".", "!", "?", ":")) else "."
        return f"{self.title}{end} {self.content}"


class AnalysisStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    """The analyser cannot run here (no LLM configured); not an error of the article."""


class AnalysisResult(BaseModel):
    """One analyser's outcome for one article: its output, or its error; always its time."""

    analyser: str
    status: AnalysisStatus
    output: dict[str, Any] | None = None
    error: str | None = None
    latency_ms: float = Field(ge=0)
    attempts: int = Field(default=1, ge=0)
    analysed_at: datetime


class AnalyzedNewsArticle(BaseModel):
    """An article with what its analysers found; `results` has one entry per analyser."""

    id: str
    title: str
    content: str
    url: str
    source: str
    author: str | None
    published_at: datetime | None
    guid: str | None
    origin: str = Field(description="`feed` (through the stream) or `api` (/inference).")
    status: str = Field(description="`queued` until analysed, then `analysed`.")
    created_at: datetime
    analysed_at: datetime | None
    sentiment: str | None
    sentiment_score: float | None
    topic: str | None
    keywords: list[str]
    summary: str | None
    has_embedding: bool
    results: list[AnalysisResult]
