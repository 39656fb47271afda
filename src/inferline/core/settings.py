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
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

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

    embedding_device: Literal["cpu", "cuda", "auto"] = "cpu"
    """Where MiniLM runs (torch backend): `cpu`; `cuda`, a GPU in fp16 with larger batches
    (start fails if PyTorch sees none); `auto`, cuda when PyTorch sees a GPU, else cpu."""

    embedding_torchscript: bool = True
    """With the torch backend on the CPU: trace MiniLM once into a TorchScript graph at
    load. The graph runs a whole pass without the GIL, so the event loop cannot stall it;
    false (or a failed trace, which is logged) runs eager PyTorch. Same vectors either
    way. A GPU always runs eager (the graph was 2x slower there)."""

    embedding_int8: bool = False
    """With the onnx backend: int8 dynamic quantisation (faster, cosine ~0.98 to PyTorch)."""

    onnx_cache_dir: str | None = None
    """Where exported ONNX models are kept; default `~/.cache/inferline/onnx`."""

    vector_url: str = "embedded://"
    """Vector collections: `embedded://` is exact NumPy search persisted in `vector_path`;
    `milvus:///path/to/file.db` is Milvus Lite in that file (in this process);
    `milvus://host:19530` (`milvus+https://` for TLS) a Milvus server."""

    vector_token: SecretStr | None = None
    """A Milvus server's credentials (`user:password` or an API key); also read from the
    file named by INFERLINE_VECTOR_TOKEN_FILE."""

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

    profile: Literal["standard", "batched"] | None = None
    """The processing strategy of every model (source S1's arch-async-standard and
    arch-async-batched): `standard` runs one item at a time; `batched` micro-batches
    (and runs parallel batches) with each model's batching hints for that profile.
    Unset: each model's own hints. INFERLINE_BATCHING still overrides per model."""

    blob_store: Literal["file", "s3"] = "file"
    """Where uploaded documents of OCR jobs are kept (never in the job row): `file`, a
    folder (`blob_path`); `s3`, a bucket of an S3-compatible server."""

    blob_path: str | None = None
    """The `file` blob store's folder; default `inferline-blobs/` next to a SQLite
    database (or in the working directory for other databases)."""

    s3_endpoint_url: str | None = None
    """The S3-compatible server (e.g. `http://minio:9000`); unset: AWS S3 itself."""

    s3_bucket: str = "inferline"
    """The bucket of the `s3` blob store (created at start when missing)."""

    s3_prefix: str = Field(default="", max_length=200, pattern=r"^[A-Za-z0-9._/-]*$")
    """Prefix of every key in the bucket (separates deployments and tests)."""

    s3_region: str = "us-east-1"
    """The bucket's region."""

    s3_access_key_id: SecretStr | None = None
    """S3 credentials (INFERLINE_S3_ACCESS_KEY_ID, or a file named by
    INFERLINE_S3_ACCESS_KEY_ID_FILE); unset: the client's own chain (role, profile)."""

    s3_secret_access_key: SecretStr | None = None
    """The secret key (INFERLINE_S3_SECRET_ACCESS_KEY or …_FILE); never logged or shown."""

    ocr_max_file_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Largest OCR upload (413 beyond; the request body limit applies first)."""

    ocr_max_pixels: int = Field(default=40_000_000, ge=10_000)
    """Most pixels of one page (413 beyond): bounds the memory a decode takes."""

    ocr_max_pages: int = Field(default=20, ge=1, le=1000)
    """Most pages read from one document (422 beyond: choose some with `pages`)."""

    ocr_pdf_dpi: int = Field(default=200, ge=50, le=600)
    """The resolution PDF pages are rendered at for OCR."""

    ocr_blob_sweep_seconds: float = Field(default=600.0, gt=0)
    """How often a worker removes the blobs of jobs the retention removed."""

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

    streams_reclaim_idle_seconds: float = Field(default=30.0, ge=1, le=3600)
    """Redis Streams: records that a consumer read and did not acknowledge for this long
    (it died or hangs) are taken over by another member of the group (a restarted
    process is one). Longer than the slowest batch, or a slow batch is read twice."""

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

    auth: Literal["required", "off"] | None = None
    """`required`: every route but the health checks and the dashboard's files needs an
    API key or token; `off`: anyone who reaches the port may do anything, as the
    `default` tenant. Unset: `off` for `inferline serve` on a loopback address,
    `required` for `inferline api` and for any other address."""

    auth_secret: SecretStr | None = None
    """The server's secret for API key hashes (HMAC-SHA256); every process and the
    `inferline keys` command must share it. Unset: plain SHA-256 (keys are 256 random
    bits either way). Changing it invalidates the keys made with the old one."""

    jwt_jwks_url: str | None = None
    """Accept JWTs signed by the keys at this JWKS URL (an identity provider's
    `.well-known/jwks.json`), besides API keys."""

    jwt_jwks_file: str | None = None
    """Accept JWTs signed by the keys of this JWKS file (instead of a URL)."""

    jwt_issuer: str | None = None
    """The `iss` a JWT must carry (recommended)."""

    jwt_audience: str | None = None
    """The `aud` a JWT must carry (recommended)."""

    jwt_algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RS256"])
    """Accepted JWT signature algorithms, comma-separated (asymmetric only)."""

    jwt_tenant_claim: str = "tenant"
    """The JWT claim holding the caller's tenant."""

    jwt_scopes_claim: str = "scope"
    """The JWT claim holding the scopes: a space-separated string or a list."""

    rate_limit: str | None = Field(default=None, max_length=64)
    """Requests per key, e.g. `20/second` or `1000/minute` (a key may carry its own);
    unset: no limit. Over it: 429 with Retry-After."""

    rate_limit_url: str = "memory://"
    """Where request counts live: `memory://` (this process) or `redis://…` (shared by
    every API process; keys under `<redis_prefix>:rate`)."""

    max_concurrent_jobs: int | None = Field(default=None, ge=1)
    """Unfinished (queued or running) jobs a key's tenant may have when it submits more
    (a key may carry its own); unset: no limit. Over it: 429."""

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [name.strip() for name in value.split(",") if name.strip()]
        if isinstance(value, list) and any(str(v).upper().startswith("HS") for v in value):
            raise ValueError("jwt_algorithms: only asymmetric algorithms (RS*, ES*, PS*, EdDSA)")
        return value

    @field_validator("rate_limit_url")
    @classmethod
    def _known_rate_storage(cls, value: str) -> str:
        return _check_scheme(value, ("memory", "redis", "rediss"), "rate limit")

    @model_validator(mode="after")
    def _gpu_needs_torch(self) -> Settings:
        if self.embedding_device == "cuda" and self.embedding_backend != "torch":
            raise ValueError("embedding_device cuda needs embedding_backend torch")
        return self

    @model_validator(mode="after")
    def _one_jwks(self) -> Settings:
        if self.jwt_jwks_url and self.jwt_jwks_file:
            raise ValueError("set one of jwt_jwks_url and jwt_jwks_file, not both")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            SecretFilesSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

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

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, values: Any) -> Any:
        """`INFERLINE_<NAME>_FILE` names a file holding a secret (mounted Kubernetes or
        Docker secrets) when the variable itself is not set."""
        if not isinstance(values, dict):
            return values
        for name in ("s3_access_key_id", "s3_secret_access_key"):
            path = os.environ.get(f"INFERLINE_{name.upper()}_FILE")
            if values.get(name) is None and path:
                with open(path, encoding="utf-8") as handle:
                    values[name] = handle.read().strip()
        return values

    def blob_folder(self) -> str:
        """The `file` blob store's folder: `blob_path`, or derived from the database."""
        if self.blob_path:
            return self.blob_path
        parts = urlsplit(self.database_url)
        if parts.scheme.startswith("sqlite") and parts.path.strip("/") not in ("", ":memory:"):
            database = parts.path[1:] if parts.path.startswith("/") else parts.path
            return os.path.join(os.path.dirname(database) or ".", "inferline-blobs")
        return "inferline-blobs"

    @field_validator("vector_url")
    @classmethod
    def _known_vector_index(cls, value: str) -> str:
        _check_scheme(value, ("embedded", "milvus", "milvus+https"), "vector")
        if value.startswith("milvus"):
            milvus_uri(value)  # a URL without a file or a host is refused now, not at start
        return value

    def milvus_uri(self) -> str:
        """What the Milvus client connects to: a Lite `.db` file or a server's URL."""
        return milvus_uri(self.vector_url)

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


class SecretFilesSource(PydanticBaseSettingsSource):
    """`INFERLINE_<NAME>_FILE=/run/secrets/x`: the setting's value is that file's content
    (without the final newline), as Docker and Kubernetes mount secrets. Any setting can
    be given so; `INFERLINE_<NAME>` and `INFERLINE_<NAME>_FILE` together are an error."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        env = f"INFERLINE_{field_name.upper()}"
        path = os.environ.get(f"{env}_FILE")
        if not path:
            return None, field_name, False
        if env in os.environ:
            raise ValueError(f"set {env} or {env}_FILE, not both")
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read()
        except OSError as exc:
            raise ValueError(f"{env}_FILE: cannot read {path}: {exc.strerror}") from None
        return value.removesuffix("\n").removesuffix("\r"), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(info, name)
            if value is not None:
                values[key] = value
        return values


def redact_url(url: str) -> str:
    """The URL with its password (and any `?password=`) shown as `***`."""
    parts = urlsplit(url)
    secret_query = any(
        pair.partition("=")[0].lower() in ("password", "token", "api_key")
        for pair in parts.query.split("&")
    )
    if not parts.password and not secret_query:
        return url
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        parts = parts._replace(netloc=netloc)
    query = "&".join(
        f"{k}=***" if k.lower() in ("password", "token", "api_key") else f"{k}={v}"
        for k, _, v in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return parts._replace(query=query).geturl()


def milvus_uri(url: str) -> str:
    """`milvus:///data/v.db` → `/data/v.db` (Milvus Lite); `milvus://host:19530` →
    `http://host:19530`; `milvus+https://host` → `https://host`."""
    parts = urlsplit(url)
    if parts.netloc:
        scheme = "https" if parts.scheme == "milvus+https" else "http"
        return f"{scheme}://{parts.netloc}"
    if parts.scheme == "milvus" and parts.path.endswith(".db"):
        return parts.path
    raise ValueError(
        f"a Milvus vector URL names a server (milvus://host:19530) or a Milvus Lite file "
        f"ending in .db (milvus:///path/file.db), not {url!r}"
    )


def _check_scheme(value: str, allowed: tuple[str, ...], what: str) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in allowed:
        raise ValueError(f"unsupported {what} URL scheme {scheme!r}; use one of {allowed}")
    return value
