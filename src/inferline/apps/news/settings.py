"""The news stream's settings, from the environment (prefix INFERLINE_NEWS_)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from inferline.apps.news.analysers import DEFAULT_TOPICS
from inferline.core.settings import TOPIC_PATTERN


class NewsSettings(BaseSettings):
    """Every knob of the news stream. Each can be set as INFERLINE_NEWS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="INFERLINE_NEWS_", extra="ignore")

    enabled: bool = True
    """Run the feed poller and the stream processor in `inferline serve`."""

    tenant: str = Field(default="default", min_length=1, max_length=64)
    """The tenant the news stream belongs to: one corpus per deployment, reached only
    with that tenant's keys (another tenant's get 404). With authentication off every
    caller is the `default` tenant."""

    topic: str = Field(default="news.raw", max_length=200, pattern=TOPIC_PATTERN)
    """The stream of raw articles: a Kafka topic or Redis stream when INFERLINE_STREAMS_URL
    (or a Kafka/Redis events URL) names a broker, else the database's embedded queue."""

    batch_size: int = Field(default=10, ge=1, le=1000)
    """Articles the processor analyses together (S0's BATCH_SIZE)."""

    batch_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    """How long a batch waits to fill after its first article (S0's BATCH_TIMEOUT)."""

    max_concurrent_requests: int = Field(default=20, ge=1, le=1000)
    """Analyser calls in flight at once, every article together (S0's
    MAX_CONCURRENT_REQUESTS)."""

    topics: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TOPICS))
    """Zero-shot topic labels and their descriptions, as JSON: {"sports": "sports, ..."}."""

    summary_max_tokens: int = Field(default=60, ge=8, le=512)
    """The longest summary the LLM may write, in tokens."""

    poll_tick_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often the poller looks for due feeds."""

    fetch_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """Longest wait for a feed's HTTP answer."""

    max_backoff_seconds: float = Field(default=3600.0, ge=1)
    """Longest wait before retrying a failing feed (the interval doubles per failure)."""

    @field_validator("topics")
    @classmethod
    def _some_topics(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("give at least one topic label")
        for label, description in value.items():
            if not label.strip() or len(label) > 64 or not description.strip():
                raise ValueError(f"topic {label!r}: a label of 1-64 chars and a description")
        return value
