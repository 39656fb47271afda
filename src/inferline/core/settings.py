"""Settings from the environment (prefix INFERLINE_). Defaults are the embedded mode."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SQL_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg", "mysql+aiomysql")
TOPIC_PATTERN = r"^[A-Za-z0-9._-]+$"


class BatchingOverride(BaseModel):
    """Per-model batching settings that replace the model's own hints."""

    max_batch_size: int | None = Field(default=None, ge=1, le=4096)
    max_wait_ms: float | None = Field(default=None, ge=0, le=10_000)
    instances: int | None = Field(default=None, ge=1, le=256)


class StreamRoute(BaseModel):
    """An input topic whose records become jobs of a model; results go to an output topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(min_length=1, max_length=200, pattern=TOPIC_PATTERN)
    model: str = Field(min_length=1)
    output_topic: str | None = Field(default=None, max_length=200, pattern=TOPIC_PATTERN)
    """Where each job's result goes; default `<topic>.results`."""
    dead_letter_topic: str | None = Field(default=None, max_length=200, pattern=TOPIC_PATTERN)
    """Where bad records (and jobs that died) go, with the reason; default `<topic>.dead-letter`."""
    id_field: str | None = None
    """A field of each record holding its own unique id (removed from the model input);
    the job's idempotency key. Unset: the record's topic, partition and offset."""

    @property
    def results_topic(self) -> str:
        return self.output_topic or f"{self.topic}.results"

    @property
    def dead_letters_topic(self) -> str:
        return self.dead_letter_topic or f"{self.topic}.dead-letter"


class Settings(BaseSettings):
    """Every knob of Inferline. Each can be set as INFERLINE_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="INFERLINE_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./inferline.db"
    """SQLAlchemy URL of the job store (jobs, results, outbox): SQLite, PostgreSQL or MySQL."""

    queue_url: str = "sql://"
    """Where workers find jobs: `sql://` claims rows from the job store itself;
    `redis://host:port/db` dispatches job ids through a Redis Stream per model;
    `kafka://host:port[,host:port]` through a Kafka topic per model (one consumer
    group of workers per model)."""

    events_url: str = "memory://"
    """Where job events are published: `memory://` is in-process pub/sub;
    `redis://host:port/db` is a Redis Stream that every API process reads;
    `kafka://host:port[,host:port]` is the Kafka topic `inference_results`."""

    cache_url: str = "memory://"
    """Result and embedding cache: `memory://` is an in-process LRU with TTL;
    `redis://host:port/db` is shared by every process (keys under `redis_prefix`)."""

    cache_ttl_seconds: float = Field(default=3600.0, ge=0)
    """How long a cached embedding lives; 0 turns the embedding cache off."""

    cache_max_entries: int = Field(default=100_000, ge=1)
    """In-memory cache: entries kept before the least recently used go."""

    embedding_model: str = "minilm"
    """The model behind `/embed`, `/batch-embed`, `/similarity` and collections' texts."""

    embedding_backend: Literal["torch", "onnx"] = "torch"
    """MiniLM's engine: `torch` (PyTorch) or `onnx` (ONNX Runtime, exported on first start)."""

    embedding_torchscript: bool = True
    """With the torch backend: trace MiniLM once into a TorchScript graph at load. The
    graph runs a whole pass without the GIL, so the event loop cannot stall it; false
    (or a failed trace, which is logged) runs eager PyTorch. Same vectors either way."""

    embedding_int8: bool = False
    """With the onnx backend: int8 dynamic quantisation (faster, cosine ~0.98 to PyTorch)."""

    onnx_cache_dir: str | None = None
    """Where exported ONNX models are kept; default `~/.cache/inferline/onnx`."""

    vector_url: str = "embedded://"
    """Vector collections: `embedded://` is exact NumPy search persisted in `vector_path`."""

    vector_path: str | None = None
    """Folder of the embedded vector index; default `inferline-vectors/` next to a SQLite
    database (or in the working directory for other databases)."""

    models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Comma-separated names of the models to serve; empty means every registered model."""

    model_plugins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Extra model classes to register, comma-separated `package.module:ClassName`
    (for models that are not installed as a package with an entry point)."""

    batching: dict[str, BatchingOverride] = Field(default_factory=dict)
    """Per-model batching overrides, as JSON: {"moving-average": {"max_batch_size": 64}};
    keys `max_batch_size`, `max_wait_ms` and `instances` (batches run at once)."""

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Largest accepted request body; larger requests get 413."""

    torch_threads: int | None = Field(default=None, ge=1, le=256)
    """Threads PyTorch may use for one batch in this process. Unset: the cores divided
    by the largest `instances` of a served model (so that parallel batches do not
    oversubscribe the cores), or torch's default (one per core) when every model
    runs one batch at a time."""

    max_pending_sync: int = Field(default=1024, ge=1)
    """Synchronous requests that may wait in one model's batcher before 429."""

    max_queued_jobs: int = Field(default=1_000_000, ge=1)
    """Waiting jobs (queued, or failed awaiting retry) per model at which new submissions
    get 429; exact across every process sharing the database (`application/admission.py`)."""

    default_max_attempts: int = Field(default=3, ge=1, le=100)
    """Attempts of a job when the client does not say."""

    retry_base_seconds: float = Field(default=1.0, gt=0)
    """First retry delay; doubles each attempt, with jitter."""

    retry_max_seconds: float = Field(default=300.0, gt=0)
    """Longest retry delay."""

    lease_seconds: float = Field(default=10.0, ge=1)
    """How long a claimed job stays with its worker without a heartbeat."""

    in_flight_per_model: int | None = Field(
        default=None,
        ge=1,
        validation_alias=AliasChoices(
            "in_flight_per_model", "INFERLINE_IN_FLIGHT_PER_MODEL", "INFERLINE_INFLIGHT_PER_MODEL"
        ),
    )
    """Jobs a worker holds per model at once; default twice the batch size
    (INFERLINE_IN_FLIGHT_PER_MODEL; the older INFERLINE_INFLIGHT_PER_MODEL still works)."""

    poll_interval_seconds: float = Field(default=0.1, gt=0, le=10)
    """How often an idle worker looks for jobs submitted by another process."""

    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    """On SIGTERM, how long in-flight batches may take before the rest is released."""

    event_retention_seconds: float = Field(default=7 * 24 * 3600, ge=60)
    """How long job events (the timeline) are kept in the store."""

    job_retention_seconds: float | None = Field(default=None, ge=60)
    """Delete finished jobs older than this; unset keeps them for ever."""

    redis_prefix: str = Field(default="inferline", min_length=1, max_length=64, pattern=r"^\S+$")
    """Prefix of every Redis key (queue streams, event stream): separates deployments and tests."""

    queue_reclaim_idle_seconds: float = Field(default=10.0, ge=1, le=3600)
    """Redis queue: a message unacknowledged this long by a silent consumer is taken over."""

    queue_sweep_seconds: float = Field(default=2.0, gt=0, le=300)
    """Redis queue: how often the relay re-dispatches runnable jobs missing from the queue."""

    events_max_length: int = Field(default=100_000, ge=100)
    """Redis events: the event stream is trimmed to about this many entries."""

    kafka_topic_prefix: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9._-]*$")
    """Kafka: prefix of every topic and consumer group name, so that deployments, tenants
    and tests can share a broker (e.g. `prod.`)."""

    kafka_partitions: int = Field(default=12, ge=1, le=10_000)
    """Kafka: partitions of the topics Inferline creates (a model's job topic bounds how
    many workers of its consumer group get work at once)."""

    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000, le=300_000)
    """Kafka: a worker silent this long leaves its consumer group and its partitions move
    to the others (the broker may require at least 6000)."""

    streams_url: str | None = None
    """The broker of stream routes: `kafka://…` or `redis://…`; unset, the events URL
    when that is Kafka or Redis. The relay produces stream jobs' results there."""

    stream_routes: list[StreamRoute] = Field(default_factory=list)
    """Input topics whose records become jobs, as JSON: [{"topic": "news.raw", "model":
    "minilm", "output_topic": "news.embedded", "id_field": "id"}]. `inferline serve` and
    `inferline consume` run them."""

    domain_events_url: str | None = None
    """Where the dispatcher sends apps' domain events (the `domain_outbox` table):
    `kafka://…` or `redis://…`; unset, the stream routes' broker (`streams_url`, or a
    Kafka/Redis events URL); without one, `memory://`: this process's subscribers."""

    domain_events_topic_prefix: str = Field(
        default="domain.", max_length=100, pattern=r"^[A-Za-z0-9._-]*$"
    )
    """Topic of a domain event: this prefix and its type (`domain.order-placed`); the
    broker adds the deployment's own prefix (Kafka topic prefix, Redis key prefix)."""

    domain_events_batch_size: int = Field(default=100, ge=1, le=1000)
    """Domain events sent in one batch (one acknowledged send, one mark)."""

    domain_events_retention_seconds: float = Field(default=7 * 24 * 3600, ge=60)
    """How long sent domain events stay in the outbox before they are deleted."""

    domain_events_retry_base_seconds: float = Field(default=1.0, gt=0, le=3600)
    """The first wait after a failed send; it doubles with each failure of an event."""

    domain_events_retry_max_seconds: float = Field(default=300.0, gt=0, le=86_400)
    """The longest wait between two sends of one event."""

    domain_events_lock_url: str | None = None
    """The dispatcher's lock (one sender across processes, fenced): `redis://…`; `sql://`
    (a row in the job store's database); `memory://` (this process only). Unset: the
    first Redis URL among the domain events, events, queue and cache URLs, else `sql://`."""

    domain_events_lease_seconds: float = Field(default=10.0, ge=0.3, le=600)
    """The dispatcher's lease: renewed every third of it; another process takes over
    this long after the holder died."""

    domain_events_pause_after_send: str | None = None
    """Tests only: a file path. After a batch was acknowledged and before it is marked,
    the dispatcher writes the batch's event ids there and waits until `<path>.resume`
    exists (a test kills it there, or freezes it and lets it go on)."""

    llm_url: str | None = None
    """An OpenAI-compatible endpoint (`https://…/v1`: OpenAI, vLLM, Ollama, llama.cpp's
    server) whose chat model backs the features that need an LLM. Unset: the chat model
    this process serves (`llm_model`, default `smollm2`), or none."""

    llm_model: str | None = None
    """The chat model's name: at `llm_url` (required there), or a served chat model."""

    llm_api_key: SecretStr | None = None
    """Bearer token for `llm_url`; never logged or shown."""

    llm_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    """Remote LLM: the limit of one attempt (connect: at most 10 s)."""

    llm_max_concurrency: int = Field(default=8, ge=1, le=1024)
    """Remote LLM: calls in flight at once (also the pooled connections)."""

    llm_max_attempts: int = Field(default=4, ge=1, le=20)
    """Remote LLM: attempts of a call on connection errors, timeouts, 429 and 5xx."""

    llm_breaker_failures: int = Field(default=5, ge=1, le=1000)
    """Remote LLM: failed attempts in a row that open the circuit breaker."""

    llm_breaker_reset_seconds: float = Field(default=30.0, gt=0, le=3600)
    """Remote LLM: how long an open circuit refuses calls before a trial call."""

    log_level: str = "INFO"
    """Python log level name."""

    log_format: Literal["auto", "json", "console"] = "auto"
    """`json` lines, `console` text, or `auto` (console on a terminal, else JSON)."""

    access_log: bool = True
    """Log one line per HTTP request (method, route, status, duration, request_id)."""

    @model_validator(mode="after")
    def _reclaim_after_heartbeat(self) -> Settings:
        heartbeat = self.lease_seconds / 3
        uses_queue = urlsplit(self.queue_url).scheme in ("redis", "rediss")
        if uses_queue and self.queue_reclaim_idle_seconds <= heartbeat:
            raise ValueError(
                f"queue_reclaim_idle_seconds ({self.queue_reclaim_idle_seconds}) must exceed the "
                f"worker heartbeat (lease_seconds / 3 = {heartbeat:.1f}) or live workers lose jobs"
            )
        return self

    @field_validator("vector_url")
    @classmethod
    def _known_vector_index(cls, value: str) -> str:
        return _check_scheme(value, ("embedded",), "vector")

    def vector_folder(self) -> str:
        """The embedded vector index's folder: `vector_path`, or derived from the database."""
        if self.vector_path:
            return self.vector_path
        parts = urlsplit(self.database_url)
        if parts.scheme.startswith("sqlite") and parts.path.strip("/") not in ("", ":memory:"):
            database = parts.path[1:] if parts.path.startswith("/") else parts.path
            return os.path.join(os.path.dirname(database) or ".", "inferline-vectors")
        return "inferline-vectors"

    @field_validator("models", "model_plugins", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in SQL_SCHEMES:
            raise ValueError(
                f"unsupported database URL scheme {scheme!r}; use one of {SQL_SCHEMES}"
            )
        return value

    @field_validator("queue_url")
    @classmethod
    def _known_queue(cls, value: str) -> str:
        return _check_scheme(value, ("sql", "redis", "rediss", "kafka"), "queue")

    @field_validator("events_url")
    @classmethod
    def _known_bus(cls, value: str) -> str:
        return _check_scheme(value, ("memory", "redis", "rediss", "kafka"), "events")

    @field_validator("streams_url")
    @classmethod
    def _known_streams(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _check_scheme(value, ("redis", "rediss", "kafka"), "streams")

    def stream_broker_url(self) -> str | None:
        """Where stream routes read and write: `streams_url`, or a Kafka/Redis events URL."""
        if self.streams_url:
            return self.streams_url
        if urlsplit(self.events_url).scheme in ("redis", "rediss", "kafka"):
            return self.events_url
        return None

    @field_validator("domain_events_url", "domain_events_lock_url")
    @classmethod
    def _known_domain_events(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _check_scheme(value, ("memory", "sql", "redis", "rediss", "kafka"), "domain events")

    def domain_events_broker_url(self) -> str:
        """Where domain events go: `domain_events_url`, else the streams broker, else memory."""
        return self.domain_events_url or self.stream_broker_url() or "memory://"

    def domain_events_lock(self) -> str:
        """The dispatcher lock's server: `domain_events_lock_url`, else a Redis URL in use."""
        if self.domain_events_lock_url:
            return self.domain_events_lock_url
        for url in (
            self.domain_events_broker_url(),
            self.events_url,
            self.queue_url,
            self.cache_url,
        ):
            if urlsplit(url).scheme in ("redis", "rediss"):
                return url
        return "sql://"

    @model_validator(mode="after")
    def _domain_events_urls_fit(self) -> Settings:
        if urlsplit(self.domain_events_lock()).scheme == "kafka":
            raise ValueError("domain_events_lock_url must be redis://…, sql:// or memory://")
        if urlsplit(self.domain_events_broker_url()).scheme == "sql":
            raise ValueError("domain_events_url must be kafka://…, redis://… or memory://")
        return self

    @model_validator(mode="after")
    def _routes_have_a_broker(self) -> Settings:
        if self.stream_routes and self.stream_broker_url() is None:
            raise ValueError(
                "stream_routes need a broker: set streams_url (kafka://… or redis://…)"
            )
        return self

    @field_validator("llm_url")
    @classmethod
    def _http_llm(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _check_scheme(value, ("http", "https"), "LLM")

    @model_validator(mode="after")
    def _remote_llm_names_its_model(self) -> Settings:
        if self.llm_url and not self.llm_model:
            raise ValueError("llm_url needs llm_model: the name of the model at that endpoint")
        return self

    @field_validator("cache_url")
    @classmethod
    def _known_cache(cls, value: str) -> str:
        return _check_scheme(value, ("memory", "redis", "rediss"), "cache")


def _check_scheme(value: str, allowed: tuple[str, ...], what: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in allowed:
        raise ValueError(f"unsupported {what} URL scheme {scheme!r}; use one of {allowed}")
    return value
