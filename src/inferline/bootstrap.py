"""The composition root: builds every adapter and service from settings. Nothing else wires."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import SecretStr

from inferline.adapters.auth.jwt import JwtVerifier
from inferline.adapters.auth.rates import LimitsRateCounter
from inferline.adapters.blobs.files import FileBlobStore
from inferline.adapters.blobs.s3 import S3BlobStore
from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.events import KafkaEventBus
from inferline.adapters.kafka.queue import KafkaJobQueue
from inferline.adapters.kafka.streams import KafkaStreamSink, KafkaStreamSource
from inferline.adapters.llm.local import LocalChatModel
from inferline.adapters.llm.openai_compatible import RemoteChatModel
from inferline.adapters.llm.unavailable import NoChatModel
from inferline.adapters.memory.cache import MemoryCache
from inferline.adapters.memory.dedupe import InProcessProcessedEvents
from inferline.adapters.memory.events import InProcessEventBus
from inferline.adapters.memory.locks import InProcessLeaseLock
from inferline.adapters.memory.streams import InProcessStreamSink
from inferline.adapters.notify.disabled import NoNotifier
from inferline.adapters.notify.slack import SLACK_RETRY, SlackWebhookNotifier
from inferline.adapters.redis.cache import RedisCache
from inferline.adapters.redis.dedupe import RedisProcessedEvents
from inferline.adapters.redis.events import RedisStreamEventBus
from inferline.adapters.redis.locks import RedisLeaseLock
from inferline.adapters.redis.queue import RedisStreamQueue
from inferline.adapters.redis.streams import RedisStreamSink, RedisStreamSource
from inferline.adapters.sql.domain_outbox import (
    SqlDomainOutbox,
    append_domain_events,
    consume_domain_event_once,
)
from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.keys import SqlKeyStore
from inferline.adapters.sql.locks import SqlLeaseLock
from inferline.adapters.sql.logs.database import LogsDatabase, SharedEngines
from inferline.adapters.sql.logs.dead_letters import SqlDeadLetterStore
from inferline.adapters.sql.logs.incidents import SqlLogsStore
from inferline.adapters.sql.logs.store import SqlLogStore
from inferline.adapters.sql.logs.stream import SqlLogStream
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.adapters.sql.recsys.store import SqlRecsysStore
from inferline.adapters.sql.store import SqlJobStore
from inferline.adapters.vectors.numpy_index import NumpyVectorIndex
from inferline.adapters.vectors.pgvector import PgVectorIndex
from inferline.api.presenters import model_summary, worker_view
from inferline.application.admission import QueueDepths
from inferline.application.auth import Authenticator, ClaimNames, KeyService
from inferline.application.chat import ChatService
from inferline.application.collections import CollectionService
from inferline.application.dashboard import DashboardConfig, DashboardService
from inferline.application.data_plane import DataPlane
from inferline.application.domain_dispatch import (
    AfterSend,
    DispatcherConfig,
    DomainEventDispatcher,
)
from inferline.application.embeddings import EmbeddingService
from inferline.application.inference import InferenceService
from inferline.application.jobs import JobService
from inferline.application.streams import StreamIngest, StreamResults
from inferline.apps.logs.alert_settings import AlertSettings
from inferline.apps.logs.alerts import build_incident_alerts
from inferline.apps.logs.analysis import RootCauseAnalyst
from inferline.apps.logs.batch import LogBatch
from inferline.apps.logs.batch_settings import LogBatchSettings
from inferline.apps.logs.batch_wiring import LogBatchApp, build_log_batch
from inferline.apps.logs.incident_service import IncidentService
from inferline.apps.logs.memory import IncidentMemory, plane_embedder
from inferline.apps.logs.processing_wiring import STREAM_GROUP as LOGS_STREAM_GROUP
from inferline.apps.logs.processing_wiring import LogsProcessingApp, build_logs_processing
from inferline.apps.logs.responders import IncidentResponder
from inferline.apps.logs.settings import LogsSettings
from inferline.apps.logs.wiring import LogsApp, build_logs_ingest
from inferline.apps.news.store import Database
from inferline.apps.news.wiring import STREAM_GROUP as NEWS_STREAM_GROUP
from inferline.apps.news.wiring import NewsApp, build_news
from inferline.apps.ocr.service import OcrApp, SweepConfig
from inferline.apps.recsys.settings import RecsysSettings
from inferline.apps.recsys.wiring import RecsysApp, build_recsys
from inferline.core.documents import DocumentLimits
from inferline.core.metrics import Metrics
from inferline.core.settings import BatchingOverride, Settings, StreamRoute
from inferline.domain.errors import NotFound
from inferline.domain.jobs import JobEvent, RetryPolicy
from inferline.models.minilm import MiniLM, resolve_device
from inferline.models.ocr_rapid import RapidOCR
from inferline.models.ocr_tesseract import TesseractOCR
from inferline.models.smollm2 import Generation, SmolLM2
from inferline.ports.blobs import BlobStore
from inferline.ports.cache import Cache, RankingCache
from inferline.ports.chat import ChatInferenceModel
from inferline.ports.claims import JobSource
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.dedupe import ProcessedEvents
from inferline.ports.domain_events import ConsumedEvents, DomainEventAppender, PendingEvent
from inferline.ports.events import EventBus
from inferline.ports.llm import ChatModel
from inferline.ports.locks import LeaseLock
from inferline.ports.model import InferenceModel
from inferline.ports.notifications import Notifier
from inferline.ports.ocr import OcrModel
from inferline.ports.queue import JobQueue
from inferline.ports.store import JobStore
from inferline.ports.streams import StreamSink, StreamSource
from inferline.ports.vectors import VectorIndex
from inferline.runtime.connections import Connections, Dependency
from inferline.runtime.dispatch import QueueDispatcher
from inferline.runtime.monitor import QueueMonitor
from inferline.runtime.registry import ModelRegistry
from inferline.runtime.relay import OutboxRelay
from inferline.runtime.serving import ModelServer, batching_config, threads_per_instance
from inferline.runtime.signals import CommitSignal
from inferline.worker.sources import QueueJobSource
from inferline.worker.worker import Worker, WorkerConfig, new_worker_id

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)


class AppService(Protocol):
    """An app's own part of a process (its store, its consumers): started with the process's
    connections, stopped before the platform's services. `stop` must also work when `start`
    never ran or failed half way."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Role(StrEnum):
    """What a process does; `inferline serve` does all four."""

    API = "api"
    WORKER = "worker"
    RELAY = "relay"
    STREAMS = "streams"  # the stream routes' ingest (`inferline consume`)


def build_store(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> JobStore:
    """The job store named by INFERLINE_DATABASE_URL, reading time from `clock`."""
    return SqlJobStore(settings.database_url, clock=clock)


def build_event_bus(settings: Settings) -> EventBus:
    """The event bus named by INFERLINE_EVENTS_URL."""
    if settings.events_url.startswith("memory:"):
        return InProcessEventBus()
    if settings.events_url.startswith(("redis:", "rediss:")):
        return RedisStreamEventBus(
            settings.events_url, settings.redis_prefix, max_length=settings.events_max_length
        )
    if settings.events_url.startswith("kafka:"):
        return KafkaEventBus(kafka_config(settings, settings.events_url))
    raise ValueError(f"events URL {settings.events_url!r} is not supported in this build")


def build_cache(settings: Settings) -> Cache:
    """The embedding cache named by INFERLINE_CACHE_URL."""
    if settings.cache_url.startswith(("redis:", "rediss:")):
        return RedisCache(settings.cache_url, prefix=f"{settings.redis_prefix}:cache:")
    return MemoryCache(settings.cache_max_entries)


def build_vector_index(settings: Settings, *, namespace: str = "inferline") -> VectorIndex:
    """The vector index named by INFERLINE_VECTOR_URL: Milvus (Lite in a file, or a server;
    `namespace` keeps each user's collections apart), else the embedded index in a folder
    next to the DB."""
    if settings.vector_url.startswith("milvus"):
        # pymilvus loads here, only for a Milvus deployment (a second at start otherwise)
        from inferline.adapters.vectors.milvus import MilvusVectorIndex

        token = settings.vector_token.get_secret_value() if settings.vector_token else None
        return MilvusVectorIndex(settings.milvus_uri(), token=token, namespace=namespace)
    return NumpyVectorIndex(Path(settings.vector_folder()))


def freeze_startup_objects() -> None:
    """Exempt what startup allocated (libraries, model weights' Python objects) from the
    cyclic garbage collector. They live as long as the process, yet each full collection
    walks them all while holding the GIL: about 200 ms with MiniLM loaded (measured),
    a stall of every request and batch, several times a minute under load."""
    gc.collect()
    gc.freeze()


def build_blob_store(settings: Settings) -> BlobStore:
    """The blob store named by INFERLINE_BLOB_STORE: a folder, or an S3-compatible bucket."""
    if settings.blob_store == "s3":
        return S3BlobStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=_secret(settings.s3_access_key_id),
            secret_access_key=_secret(settings.s3_secret_access_key),
            prefix=settings.s3_prefix,
        )
    return FileBlobStore(settings.blob_folder())


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def document_limits(settings: Settings) -> DocumentLimits:
    """What one OCR document may be (bytes, pixels a page, pages, PDF DPI)."""
    return DocumentLimits(
        max_bytes=settings.ocr_max_file_bytes,
        max_pixels=settings.ocr_max_pixels,
        max_pages=settings.ocr_max_pages,
        pdf_dpi=settings.ocr_pdf_dpi,
    )


def embedding_settings(settings: Settings) -> tuple[Settings, Literal["cpu", "cuda"]]:
    """MiniLM's device (INFERLINE_EMBEDDING_DEVICE, resolved now so that a missing GPU
    fails the start) and the settings with its GPU batching hints under any
    INFERLINE_BATCHING override of minilm."""
    device = "cpu" if settings.embedding_backend != "torch" else settings.embedding_device
    resolved = resolve_device(device)
    if resolved == "cpu":
        return settings, resolved
    own = settings.batching.get(MiniLM.name) or BatchingOverride()
    hints = {**MiniLM.cuda_batching, **own.model_dump(exclude_none=True)}
    batching = {**settings.batching, MiniLM.name: BatchingOverride.model_validate(hints)}
    return settings.model_copy(update={"batching": batching}), resolved


def model_factories(
    settings: Settings,
    blobs: BlobStore | None = None,
    embedding_device: Literal["cpu", "cuda"] = "cpu",
) -> dict[str, Callable[[], InferenceModel]]:
    """Models whose construction depends on settings (MiniLM's backend and device; the
    OCR models' blob store, which holds the documents of OCR jobs, and limits)."""
    onnx_dir = Path(settings.onnx_cache_dir) if settings.onnx_cache_dir else None
    onnx_threads = settings.torch_threads or threads_per_instance(
        batching_config(MiniLM, settings).instances
    )

    def minilm() -> InferenceModel:
        return MiniLM(
            settings.embedding_backend,
            quantize=settings.embedding_int8,
            onnx_cache_dir=onnx_dir,
            onnx_threads=onnx_threads,
            torchscript=settings.embedding_torchscript,
            device=embedding_device,
        )

    limits = document_limits(settings)

    def tesseract() -> InferenceModel:
        return TesseractOCR(blobs, limits)

    def rapid() -> InferenceModel:
        return RapidOCR(blobs, limits)

    return {MiniLM.name: minilm, TesseractOCR.name: tesseract, RapidOCR.name: rapid}


def chat_model_factories(metrics: Metrics) -> dict[str, Callable[[], InferenceModel]]:
    """Served chat models, counting their tokens and timing them in `metrics`."""

    def record(generation: Generation) -> None:
        metrics.observe_generation(
            SmolLM2.name,
            prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
            first_token_seconds=generation.first_token_seconds,
            decode_seconds=generation.decode_seconds,
        )

    return {SmolLM2.name: lambda: SmolLM2(observer=record)}


def build_chat_model(settings: Settings, chat: ChatService) -> ChatModel:
    """The chat model behind the features that need an LLM: the endpoint at
    INFERLINE_LLM_URL, else the served chat model INFERLINE_LLM_MODEL (default
    smollm2), else none (every call says why)."""
    if settings.llm_url:
        return RemoteChatModel(
            settings.llm_url,
            settings.llm_model or "",
            settings.llm_api_key,
            timeout_seconds=settings.llm_timeout_seconds,
            max_concurrency=settings.llm_max_concurrency,
            max_attempts=settings.llm_max_attempts,
            breaker_failures=settings.llm_breaker_failures,
            breaker_reset_seconds=settings.llm_breaker_reset_seconds,
        )
    name = settings.llm_model or SmolLM2.name
    try:
        model_class: type[InferenceModel] | None = chat.models.get(name).model_class
    except NotFound:
        model_class = None
    if model_class is not None and issubclass(model_class, ChatInferenceModel):
        return LocalChatModel(chat, model_class.name)
    return NoChatModel(
        f"no LLM is configured: chat model {name!r} is not served here; set "
        "INFERLINE_LLM_URL (an OpenAI-compatible endpoint) or serve smollm2"
    )


def build_notifier(alerts: AlertSettings) -> Notifier:
    """Where incident alerts go: the Slack incoming webhook INFERLINE_SLACK_WEBHOOK_URL (or
    …_FILE), else nowhere (the notifier says so in the start-up log and status views)."""
    if alerts.slack_webhook_url is None:
        return NoNotifier("INFERLINE_SLACK_WEBHOOK_URL is not set")
    return SlackWebhookNotifier(
        alerts.slack_webhook_url.get_secret_value(),
        timeout_seconds=alerts.slack_timeout_seconds,
        retry=replace(SLACK_RETRY, attempts=alerts.slack_max_attempts),
        max_retry_after_seconds=alerts.slack_max_retry_after_seconds,
    )


def build_queue(settings: Settings) -> JobQueue | None:
    """The job queue named by INFERLINE_QUEUE_URL; None when workers claim from the store."""
    if settings.queue_url.startswith(("redis:", "rediss:")):
        return RedisStreamQueue(settings.queue_url, settings.redis_prefix)
    if settings.queue_url.startswith("kafka:"):
        return KafkaJobQueue(kafka_config(settings, settings.queue_url))
    return None


def build_stream_sink(settings: Settings) -> StreamSink | None:
    """Where stream routes' results and dead letters go; None without a stream broker."""
    url = settings.stream_broker_url()
    if url is None:
        return None
    if url.startswith("kafka:"):
        return KafkaStreamSink(kafka_config(settings, url))
    return RedisStreamSink(url, settings.redis_prefix, max_length=settings.events_max_length)


def build_stream_source(settings: Settings, route: StreamRoute, name: str) -> StreamSource:
    """The input topic of one stream route, read as member `name` of the route's group."""
    url = settings.stream_broker_url()
    if url is None:
        raise ValueError("stream routes need INFERLINE_STREAMS_URL (kafka://… or redis://…)")
    if url.startswith("kafka:"):
        return KafkaStreamSource(kafka_config(settings, url), route.topic, route.model, name=name)
    return RedisStreamSource(
        url,
        settings.redis_prefix,
        route.topic,
        route.model,
        name=name,
        reclaim_idle_seconds=settings.streams_reclaim_idle_seconds,
    )


def build_key_service(settings: Settings) -> KeyService:
    """API keys in the job store's database (`inferline keys` and the API share it)."""
    secret = settings.auth_secret.get_secret_value().encode() if settings.auth_secret else None
    return KeyService(SqlKeyStore(settings.database_url), secret=secret)


def build_authenticator(settings: Settings) -> Authenticator:
    """Keys, JWTs when a JWKS is configured, per-key request rates."""
    tokens = None
    if settings.jwt_jwks_url or settings.jwt_jwks_file:
        tokens = JwtVerifier(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            jwks_url=settings.jwt_jwks_url,
            jwks_file=settings.jwt_jwks_file,
            algorithms=tuple(settings.jwt_algorithms),
        )
    return Authenticator(
        keys=build_key_service(settings),
        tokens=tokens,
        claims=ClaimNames(tenant=settings.jwt_tenant_claim, scopes=settings.jwt_scopes_claim),
        rates=LimitsRateCounter(settings.rate_limit_url, prefix=settings.redis_prefix),
        default_rate_limit=settings.rate_limit,
        default_max_concurrent_jobs=settings.max_concurrent_jobs,
    )


async def _unfinished(store: JobStore, tenant: str) -> int:
    totals = await store.status_totals(tenant)
    return sum(totals.get(status, 0) for status in ("queued", "running", "failed"))


def news_database(settings: Settings) -> Database:
    """The news stream's tables live in the job store's database, on the same engines."""
    return Database(settings.database_url, create_engines, upgrade_to_head)


def domain_event_appender() -> DomainEventAppender:
    """What an app's store calls inside its own transaction to add domain events to the
    outbox (`domain_outbox`, on the job store's database): hand it to the app's wiring."""
    return append_domain_events


def domain_event_consumption() -> ConsumedEvents:
    """What a consumer whose effect is a write to the job store's database calls in that
    write's transaction to apply each domain event exactly once."""
    return consume_domain_event_once


def build_domain_event_sink(settings: Settings) -> StreamSink:
    """Where the dispatcher sends domain events (`INFERLINE_DOMAIN_EVENTS_URL`, else the
    stream broker, else this process's subscribers)."""
    url = settings.domain_events_broker_url()
    if url.startswith("kafka:"):
        return KafkaStreamSink(kafka_config(settings, url))
    if url.startswith(("redis:", "rediss:")):
        return RedisStreamSink(url, settings.redis_prefix, max_length=settings.events_max_length)
    return InProcessStreamSink()


def build_lease_lock(settings: Settings, store: SqlJobStore) -> LeaseLock:
    """The domain event dispatcher's lock: Redis when one is configured, else a row in
    the job store's database (`sql://`), or this process only (`memory://`)."""
    url = settings.domain_events_lock()
    if url.startswith(("redis:", "rediss:")):
        return RedisLeaseLock(url, settings.redis_prefix)
    if url.startswith("sql:"):
        return SqlLeaseLock(store)
    return InProcessLeaseLock()


def build_processed_events(settings: Settings) -> ProcessedEvents:
    """Idempotent consumers' memory: on the lock's Redis when there is one, else in-process."""
    url = settings.domain_events_lock()
    if url.startswith(("redis:", "rediss:")):
        return RedisProcessedEvents(url, settings.redis_prefix)
    return InProcessProcessedEvents()


def _pause_after_send(path: str) -> AfterSend:
    """Tests only (`INFERLINE_DOMAIN_EVENTS_PAUSE_AFTER_SEND`): after an acknowledged send,
    write the batch's ids to `path`, then wait until the file `<path>.resume` exists
    (for ever when it never does: the test kills the process there)."""

    async def pause(batch: list[PendingEvent]) -> None:
        ids = "\n".join(p.event.id for p in batch)
        await asyncio.to_thread(Path(path).write_text, ids + "\n")
        log.warning("paused after sending %d domain events (a test's setting)", len(batch))
        await asyncio.to_thread(_wait_for_file, Path(path + ".resume"))

    return pause


def _wait_for_file(path: Path) -> None:
    """Block (a thread) until `path` exists, then remove it."""
    while not path.exists():
        time.sleep(0.05)
    path.unlink()


def build_domain_event_dispatcher(
    settings: Settings,
    store: SqlJobStore,
    *,
    metrics: Metrics | None = None,
    clock: Clock = SYSTEM_CLOCK,
    sink: StreamSink | None = None,
) -> DomainEventDispatcher:
    """The dispatcher of the `domain_outbox` table, with its sink, lock and settings."""
    pause = settings.domain_events_pause_after_send
    return DomainEventDispatcher(
        SqlDomainOutbox(store),
        sink if sink is not None else build_domain_event_sink(settings),
        build_lease_lock(settings, store),
        holder=new_worker_id(),
        config=DispatcherConfig(
            batch_size=settings.domain_events_batch_size,
            topic_prefix=settings.domain_events_topic_prefix,
            lease_seconds=settings.domain_events_lease_seconds,
            retry_base_seconds=settings.domain_events_retry_base_seconds,
            retry_max_seconds=settings.domain_events_retry_max_seconds,
            retention_seconds=settings.domain_events_retention_seconds,
        ),
        clock=clock,
        metrics=metrics,
        after_send=_pause_after_send(pause) if pause else None,
    )


def kafka_config(settings: Settings, url: str) -> KafkaConfig:
    """The Kafka broker of `url`, with the topic prefix and group timings of the settings."""
    return KafkaConfig.from_url(
        url,
        topic_prefix=settings.kafka_topic_prefix,
        partitions=settings.kafka_partitions,
        session_timeout_ms=settings.kafka_session_timeout_ms,
    )


@dataclass
class Container:
    """Everything one process runs, built from settings. It is also what the outside sees
    of the process: its `ProcessState` (roles, readiness, components) for the data plane,
    and the lifecycle (`start`, `stop`) the HTTP app's lifespan runs."""

    settings: Settings
    roles: frozenset[Role]
    metrics: Metrics
    registry: ModelRegistry
    store: JobStore
    bus: EventBus
    serving: ModelServer
    depths: QueueDepths
    monitor: QueueMonitor
    jobs: JobService
    inference: InferenceService
    dashboard: DashboardService
    cache: Cache
    embeddings: EmbeddingService
    collections: CollectionService
    chat: ChatService
    llm: ChatModel
    auth: Authenticator
    relay: OutboxRelay | None = None
    workers: list[Worker] = field(default_factory=list)
    queue: JobQueue | None = None
    dispatcher: QueueDispatcher | None = None
    domain_events_dispatcher: DomainEventDispatcher | None = None
    """The domain event outbox's dispatcher (relay role)."""
    streams: list[StreamIngest] = field(default_factory=list)
    stream_sink: StreamSink | None = None
    connections: Connections = field(default_factory=Connections)
    started_at: float = field(default_factory=time.time)
    app_services: dict[str, AppService] = field(default_factory=dict)
    log_engines: SharedEngines = field(default_factory=lambda: SharedEngines(create_engines))
    """One pair of engines for every log adapter of this process (one SQLite writer)."""
    plane: DataPlane = field(init=False)
    _loading: asyncio.Task[None] | None = None

    def add_app_service(self, name: str, service: AppService) -> None:
        """Run an app's own service in this process. It starts as one of the connections
        (retried with backoff while its servers are down; `/readyz` names it until then)
        and stops first; the HTTP app puts it on `app.state.<name>` for the app's routes."""
        if name in self.app_services:
            raise ValueError(f"two app services are named {name!r}")
        self.app_services[name] = service
        check = getattr(service, "check", None)  # optional: a periodic check for /readyz
        self.connections.add(name, service.start, check)

    async def start(self) -> None:
        """Connect, migrate, start the relay; load models in the background. When a server
        is down, keep trying in the background (with backoff); `/readyz` says why."""
        if await self.connections.connect_once():
            self.connections.watch()
            await self._start_services()
            self._loading = asyncio.create_task(self._load_models(), name="load-models")
        else:
            self._loading = asyncio.create_task(self._connect_then_load(), name="connect")

    async def _connect_then_load(self) -> None:
        await self.connections.connect()
        await self._start_services()
        await self._load_models()

    async def _start_services(self) -> None:
        await self.cache.start()
        if Role.API in self.roles:  # the embedded index has one writer: the API process
            await self.collections.index.start()
        await self.monitor.start()
        if self.relay is not None:
            await self.relay.start()
        if self.dispatcher is not None:
            await self.dispatcher.start()
        if self.domain_events_dispatcher is not None:
            await self.domain_events_dispatcher.start()
        for route in self.streams:
            await route.start()

    async def _load_models(self) -> None:
        if self.roles & {Role.API, Role.WORKER}:  # a relay alone runs no model
            await self.serving.load_all()
            freeze_startup_objects()
        for worker in self.workers:
            await worker.start()

    async def wait_until_loaded(self) -> None:
        """Wait for model loading (and the worker's start) to finish."""
        if self._loading is not None:
            await asyncio.shield(self._loading)

    @property
    def ready(self) -> bool:
        return (
            self._loading is not None
            and self._loading.done()
            and (self.serving.all_loaded or not self.roles & {Role.API, Role.WORKER})
            and self.monitor.database_ok
            and self.connections.all_connected
        )

    @property
    def database(self) -> QueueMonitor:
        """The latest database check (the queue monitor's)."""
        return self.monitor

    @property
    def relay_published(self) -> int | None:
        return self.relay.published if self.relay is not None else None

    @property
    def domain_events(self) -> dict[str, Any] | None:
        return self.domain_events_dispatcher.status() if self.domain_events_dispatcher else None

    def connection_problems(self) -> list[str]:
        return self.connections.problems()

    async def stop(self) -> None:
        """Graceful stop: drain the worker, stop models, flush events, close connections."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
        for service in reversed(self.app_services.values()):
            await service.stop()
        for route in self.streams:
            await route.stop()
        await asyncio.gather(*(worker.stop() for worker in self.workers))
        await self.serving.stop()
        await self.cache.close()
        if Role.API in self.roles:
            await self.collections.index.close()
        await self.monitor.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.domain_events_dispatcher is not None:
            await self.domain_events_dispatcher.stop()
            await self.domain_events_dispatcher.lock.close()
            await self.domain_events_dispatcher.sink.close()
        if self.relay is not None:
            await self.relay.stop()
        await self.connections.stop()
        await self.bus.close()
        if self.queue is not None:
            await self.queue.close()
        if self.stream_sink is not None:
            await self.stream_sink.close()
        if isinstance(self.llm, RemoteChatModel):
            await self.llm.aclose()
        await self.auth.close()
        await self.auth.keys.store.close()
        await self.store.close()


def build_app(container: Container, *, auth_required: bool = False) -> FastAPI:
    """The HTTP app of `container` with the installed apps: `inferline serve`/`api`'s, and
    the tests'. Every route needs a key or token when `auth_required`; `/api/v1/keys` is
    served either way."""
    from inferline.api.app import create_app
    from inferline.apps.installed import INSTALLED_APPS

    return create_app(
        container.plane,
        container,
        metrics=container.metrics,
        settings=container.settings,
        apps=INSTALLED_APPS,
        app_services=container.app_services,
        auth=container.auth if auth_required else None,
        keys=container.auth.keys,
    )


def build_container(
    settings: Settings,
    roles: frozenset[Role] = frozenset(Role),
    *,
    registry: ModelRegistry | None = None,
    workers_in_process: int = 1,
    clock: Clock = SYSTEM_CLOCK,
) -> Container:
    """Wire one process. `registry` lets tests and embedders add models; `clock` is the
    one time source of the job lifecycle (store, submits, workers, batchers, queue sweep)."""
    metrics = Metrics()
    registry = registry or ModelRegistry.from_entry_points()
    registry.register_import_paths(settings.model_plugins)
    registry = registry.select(settings.models)
    device: Literal["cpu", "cuda"] = "cpu"
    if MiniLM.name in registry.names():
        settings, device = embedding_settings(settings)
    store = build_store(settings, clock)
    bus = build_event_bus(settings)
    blobs = build_blob_store(settings)
    factories = {**model_factories(settings, blobs, device), **chat_model_factories(metrics)}
    serving = ModelServer(registry, settings, metrics, factories=factories, clock=clock)
    chat = ChatService(serving, metrics)
    cache = build_cache(settings)
    embeddings = EmbeddingService(
        serving,
        cache,
        metrics,
        default_model=settings.embedding_model,
        ttl_seconds=settings.cache_ttl_seconds,
    )
    depths = QueueDepths()
    monitor = QueueMonitor(store, depths, metrics, registry.names())
    policy = RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds)
    commit_signal = CommitSignal()
    workers: list[Worker] = []
    container = Container(
        settings=settings,
        roles=roles,
        metrics=metrics,
        registry=registry,
        store=store,
        bus=bus,
        serving=serving,
        depths=depths,
        monitor=monitor,
        jobs=JobService(
            store,
            registry,
            metrics,
            depths,
            default_max_attempts=settings.default_max_attempts,
            max_queued_jobs=settings.max_queued_jobs,
            on_commit=commit_signal.on_commit,
            clock=clock,
            count_unfinished=lambda tenant: _unfinished(store, tenant),
        ),
        inference=InferenceService(serving, metrics),
        dashboard=DashboardService(
            store,
            depths,
            metrics,
            models=lambda: [model_summary(served) for served in serving.served()],
            workers=lambda: [worker_view(worker) for worker in workers],
            config=DashboardConfig(worker_timeout_seconds=1.5 * settings.lease_seconds),
        ),
        workers=workers,
        cache=cache,
        embeddings=embeddings,
        collections=CollectionService(build_vector_index(settings), embeddings),
        chat=chat,
        llm=build_chat_model(settings, chat),
        auth=build_authenticator(settings),
    )
    container.plane = DataPlane(
        jobs=container.jobs,
        inference=container.inference,
        embeddings=embeddings,
        collections=container.collections,
        dashboard=container.dashboard,
        chat=chat,
        models=serving,
        catalog=registry,
        depths=depths,
        events=bus,
        process=container,
    )
    _add_connections(container, roles)
    queue = container.queue
    metrics.workers_alive.set_function(lambda: sum(w.alive for w in workers))
    if Role.RELAY in roles:
        outputs: list[Callable[[list[JobEvent]], Awaitable[None]]] = []
        if queue is not None:
            container.dispatcher = QueueDispatcher(
                store, queue, sweep_seconds=settings.queue_sweep_seconds, clock=clock
            )
            outputs.append(container.dispatcher.dispatch)
        if container.stream_sink is not None:
            outputs.append(StreamResults(container.stream_sink, metrics).dispatch)
        container.relay = OutboxRelay(store, bus, dispatch=_each(outputs) if outputs else None)
        commit_signal.connect(container.relay.wake)
        _add_domain_events(container, clock)
    if Role.STREAMS in roles and container.stream_sink is not None:
        process = new_worker_id()
        container.streams = [
            StreamIngest(
                route,
                build_stream_source(settings, route, process),
                container.stream_sink,
                container.plane,
                metrics,
            )
            for route in settings.stream_routes
        ]
    if Role.WORKER in roles:
        config = WorkerConfig(
            lease_seconds=settings.lease_seconds,
            in_flight_per_model=settings.in_flight_per_model,
            poll_interval_seconds=settings.poll_interval_seconds,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            event_retention_seconds=settings.event_retention_seconds,
            job_retention_seconds=settings.job_retention_seconds,
        )
        for _ in range(workers_in_process):
            worker = Worker(
                store,
                serving,
                metrics,
                policy,
                config,
                on_commit=commit_signal.on_commit,
                source=_queue_source(settings, store, queue),
                clock=clock,
            )
            commit_signal.connect(worker.wake)
            container.workers.append(worker)
    if roles & {Role.API, Role.STREAMS}:
        container.add_app_service("news", _news(container, roles))
        container.add_app_service("log_incidents", _logs_processing(container, roles))
    serves_ocr = any(issubclass(registry.get(name), OcrModel) for name in registry.names())
    if roles & {Role.API, Role.WORKER} and serves_ocr:
        container.add_app_service("ocr", _ocr(container, blobs, roles, clock))
    if Role.API in roles:
        container.add_app_service("recsys", _recsys(container))
        container.add_app_service("logs", _logs(container))
    if roles & {Role.API, Role.WORKER}:
        container.add_app_service("logs_batch", _logs_batch(container, roles, clock))
    _export_dependencies(container)
    return container


def _export_dependencies(container: Container) -> None:
    """`inferline_dependency_up{dependency}`: what `/readyz` says of each server, for alerts."""
    gauge = container.metrics.dependency_up
    monitor = container.monitor
    for dependency in container.connections.dependencies:

        def up(dependency: Dependency = dependency) -> float:
            fine = dependency.connected and dependency.error is None
            if dependency.name == "database":
                fine = fine and monitor.database_ok
            return 1.0 if fine else 0.0

        gauge.labels(dependency.name).set_function(up)


def _ocr(container: Container, blobs: BlobStore, roles: frozenset[Role], clock: Clock) -> OcrApp:
    """Source S1's OCR: the blob store (checked as a connection: `/readyz` names it when it
    cannot be written) for the routes; in workers, the sweep that removes the blobs of jobs
    the retention removed."""
    settings = container.settings
    sweep = (
        SweepConfig(settings.job_retention_seconds, settings.ocr_blob_sweep_seconds)
        if Role.WORKER in roles
        else None
    )
    return OcrApp(
        blobs,
        document_limits(settings),
        container.plane,
        sweep,
        connect=blobs.start if isinstance(blobs, S3BlobStore) else None,
        clock=clock,
    )


def recsys_cache(settings: Settings, recsys: RecsysSettings) -> RankingCache:
    """The recommendation app's cache: Redis when INFERLINE_CACHE_URL names one (keys under
    INFERLINE_RECSYS_CACHE_PREFIX, default `<redis prefix>:recsys:`), else in memory."""
    if settings.cache_url.startswith(("redis:", "rediss:")):
        prefix = recsys.cache_prefix or f"{settings.redis_prefix}:recsys:"
        return RedisCache(settings.cache_url, prefix=prefix)
    return MemoryCache(settings.cache_max_entries)


def recsys_vectors(settings: Settings, recsys: RecsysSettings) -> VectorIndex:
    """Product and message embeddings for similarity search: pgvector tables in the
    PostgreSQL database (INFERLINE_RECSYS_VECTOR_INDEX=pgvector), Milvus collections under
    the `recsys` namespace of INFERLINE_VECTOR_URL's Milvus (=milvus), else the embedded
    index in its own folder beside the collections' (one writer: the API process)."""
    if recsys.vector_index == "milvus":
        if not settings.vector_url.startswith("milvus"):
            raise ValueError(
                "INFERLINE_RECSYS_VECTOR_INDEX=milvus needs a milvus:// INFERLINE_VECTOR_URL"
            )
        return build_vector_index(settings, namespace="recsys")
    if recsys.vector_index == "pgvector":
        if not settings.database_url.startswith("postgresql"):
            raise ValueError(
                "INFERLINE_RECSYS_VECTOR_INDEX=pgvector needs a PostgreSQL INFERLINE_DATABASE_URL"
            )
        return PgVectorIndex(settings.database_url)
    return NumpyVectorIndex(Path(settings.vector_folder()) / "recsys")


def logs_vectors(settings: Settings) -> VectorIndex:
    """The log analysis's incident memory (`log-incidents`): the `logs` namespace of
    INFERLINE_VECTOR_URL's Milvus, else the embedded index in its own folder."""
    if settings.vector_url.startswith("milvus"):
        return build_vector_index(settings, namespace="logs")
    return NumpyVectorIndex(Path(settings.vector_folder()) / "logs")


def _recsys(container: Container) -> RecsysApp:
    """Source S3's recommendations: tables in the job store's database (their domain
    events into its outbox, in the same transactions), the cache, the vector index,
    MiniLM through the data plane, the process's chat model."""
    settings = container.settings
    recsys = RecsysSettings()
    return build_recsys(
        plane=container.plane,
        store=SqlRecsysStore(
            settings.database_url,
            create_engines,
            upgrade_to_head,
            outbox=domain_event_appender(),
        ),
        cache=recsys_cache(settings, recsys),
        vectors=recsys_vectors(settings, recsys),
        llm=container.llm,
        embedding_model=settings.embedding_model,
        settings=recsys,
        registry=container.metrics.registry,
    )


def logs_database(settings: Settings, engines: SharedEngines | None = None) -> LogsDatabase:
    """The log tables (dead letters, the embedded stream) live in the job store's database;
    `engines`: the process's log engines (`Container.log_engines`), else engines of its own."""
    return LogsDatabase(settings.database_url, engines or create_engines, upgrade_to_head)


def logs_stream_sink(settings: Settings, database: LogsDatabase, topic: str) -> StreamSink:
    """Where the log ingest writes `topic` (`logs.raw`): the stream broker (Kafka or Redis
    Streams, which add their topic prefix), else the database's embedded stream table."""
    broker = build_stream_sink(settings)
    return broker if broker is not None else SqlLogStream(database, topic)


def logs_stream_source(
    settings: Settings, database: LogsDatabase, topic: str, group: str, member: str
) -> StreamSource:
    """What reads `topic` (`logs.raw`) as `member` of consumer group `group`: the stream
    broker's topic, else the embedded stream table (one reading process per topic)."""
    if settings.stream_broker_url() is None:
        return SqlLogStream(database, topic)
    return build_stream_source(settings, StreamRoute(topic=topic, model=group), member)


def _logs(container: Container) -> LogsApp:
    """Source S4's log ingest: records from `POST /api/v1/logs` and (with
    INFERLINE_LOGS_FORWARD_PORT) the Fluent Forward server of this API process, valid ones
    to the stream `logs.raw`, invalid ones to the dead letters in the job store's database."""
    settings = container.settings
    config = LogsSettings()
    database = logs_database(settings, container.log_engines)
    return build_logs_ingest(
        sink=logs_stream_sink(settings, database, config.topic),
        dead_letters=SqlDeadLetterStore(database),
        settings=config,
        registry=container.metrics.registry,
    )


def log_store(
    settings: Settings, clock: Clock = SYSTEM_CLOCK, engines: SharedEngines | None = None
) -> SqlLogStore:
    """Source S4's log archive and batch reports: tables in the job store's database. The
    consumer of `logs.raw` appends to it (`LogArchive.append`) and the batch jobs read it."""
    return SqlLogStore(
        settings.database_url, engines or create_engines, upgrade_to_head, clock=clock.now
    )


def log_batch(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> LogBatch:
    """The log batch jobs on the configured database (`inferline logs quality|aggregate`)."""
    store = log_store(settings, clock)
    return LogBatch(store, store, LogBatchSettings(), clock)


def _logs_batch(container: Container, roles: frozenset[Role], clock: Clock) -> LogBatchApp:
    """Source S4's batch reports for the routes; in workers, their scheduler too (the
    hourly aggregation, the daily quality check, the retention), one runner at a time
    across processes under the domain events' lease lock (Redis, else a database row)."""
    settings, store = container.settings, container.store
    lock = (
        build_lease_lock(settings, store)
        if Role.WORKER in roles and isinstance(store, SqlJobStore)
        else None
    )
    archive = log_store(settings, clock, container.log_engines)
    return build_log_batch(
        archive=archive,
        reports=archive,
        lock=lock,
        holder=new_worker_id(),
        clock=clock,
    )


def _news(container: Container, roles: frozenset[Role]) -> NewsApp:
    """Source S0's news stream: its tables in the job store's database, its stream on the
    stream routes' broker (or in the database); the feed poller and the processor run
    where stream routes do (`inferline serve`), once the models have loaded. The summary
    asks the process's chat model (`container.llm`: the served smollm2, a remote endpoint,
    or one that answers `LLMUnavailable`)."""
    settings, serving = container.settings, container.serving

    async def models_settled() -> None:
        # polled: loading is one task that starts after the connections (the news among them)
        while True:
            if all(m.loaded or m.load_error for m in serving.served()):
                return
            await asyncio.sleep(0.1)

    def news_source(topic: str, member: str) -> StreamSource:
        route = StreamRoute(topic=topic, model=NEWS_STREAM_GROUP)
        return build_stream_source(settings, route, member)

    redis_cache = settings.cache_url.startswith(("redis:", "rediss:"))
    return build_news(
        settings,
        database=news_database(settings),
        plane=container.plane,
        registry=container.metrics.registry,
        cache=container.cache if redis_cache else None,
        chat=container.llm,
        background=Role.STREAMS in roles,
        member=new_worker_id(),
        broker_sink=build_stream_sink(settings),
        broker_source=news_source,
        wait_ready=models_settled,
    )


def _logs_processing(container: Container, roles: frozenset[Role]) -> LogsProcessingApp:
    """Source S4's templates and incidents: tables in the job store's database; the
    consumer of `logs.raw` runs where stream consumers do (`inferline serve`)."""
    settings = container.settings
    member = new_worker_id()
    database = logs_database(settings, container.log_engines)

    def source(topic: str) -> StreamSource:
        return logs_stream_source(settings, database, topic, LOGS_STREAM_GROUP, member)

    def responder(service: IncidentService) -> IncidentResponder:
        return IncidentResponder(
            memory=IncidentMemory(logs_vectors(settings), plane_embedder(container.plane)),
            analyst=RootCauseAnalyst(container.llm),
            alerts=build_incident_alerts(
                build_notifier(AlertSettings()), registry=container.metrics.registry
            ),
            store_analysis=service.set_analysis,
        )

    return build_logs_processing(
        store=SqlLogsStore(settings.database_url, container.log_engines, upgrade_to_head),
        registry=container.metrics.registry,
        source=source if Role.STREAMS in roles else None,
        archive=log_store(settings, engines=container.log_engines)
        if Role.STREAMS in roles
        else None,
        responder=responder,
    )


def _each(
    outputs: list[Callable[[list[JobEvent]], Awaitable[None]]],
) -> Callable[[list[JobEvent]], Awaitable[None]]:
    """One relay output that hands each batch to every output in turn."""

    async def dispatch(events: list[JobEvent]) -> None:
        for output in outputs:
            await output(events)

    return dispatch


def _add_connections(container: Container, roles: frozenset[Role]) -> None:
    """The servers this process needs, in the order it connects to them."""
    settings, store, bus = container.settings, container.store, container.bus
    container.connections.add("database", store.start)
    if Role.API in roles:
        container.connections.add("keys", container.auth.keys.store.start)
    if roles & {Role.API, Role.RELAY}:
        check = (
            bus.start
            if isinstance(bus, RedisStreamEventBus)
            else bus.ping
            if isinstance(bus, KafkaEventBus)
            else None
        )
        container.connections.add("events", bus.start, check)
    if roles & {Role.RELAY, Role.WORKER}:
        container.queue = build_queue(settings)
        if container.queue is not None:
            container.connections.add("queue", container.queue.start, container.queue.ping)
    if roles & {Role.RELAY, Role.STREAMS} and settings.stream_broker_url() is not None:
        container.stream_sink = build_stream_sink(settings)
        if container.stream_sink is not None:
            sink = container.stream_sink
            container.connections.add("streams", sink.start, sink.start)


def _add_domain_events(container: Container, clock: Clock) -> None:
    """The domain event dispatcher of a relay process, and the servers it needs."""
    store = container.store
    if not isinstance(store, SqlJobStore):  # an embedder's own store has no domain outbox
        return
    dispatcher = build_domain_event_dispatcher(
        container.settings, store, metrics=container.metrics, clock=clock
    )
    container.domain_events_dispatcher = dispatcher
    sink, lock = dispatcher.sink, dispatcher.lock
    if not isinstance(sink, InProcessStreamSink):
        container.connections.add("domain-events", sink.start, sink.start)
    if isinstance(lock, RedisLeaseLock):
        client = lock

        async def ping() -> None:
            await client.client.ping()

        container.connections.add("domain-events-lock", ping, ping)


def _queue_source(
    settings: Settings, store: JobStore, queue: JobQueue | None
) -> Callable[[str], JobSource] | None:
    """Workers read job ids from the queue when there is one (else they claim from the store)."""
    if queue is None:
        return None

    def source(worker_id: str) -> JobSource:
        return QueueJobSource(
            store,
            queue,
            worker_id,
            settings.lease_seconds,
            reclaim_idle_seconds=settings.queue_reclaim_idle_seconds,
        )

    return source
