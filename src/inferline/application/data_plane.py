"""The data plane: every use case the outside world may call, whatever the transport.

HTTP routes, WebSockets, the apps under `apps/` and the stream consumers call this one
object (or a Protocol slice of it), as MLServer's REST, gRPC and Kafka servers call its
`DataPlane`. It holds no HTTP types: its answers are domain objects and plain data that
each transport presents in its own way. `bootstrap.py` builds it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inferline.application.admission import QueueDepths
from inferline.application.chat import ChatService, ChatStream
from inferline.application.collections import CollectionService, NewItem
from inferline.application.dashboard import DashboardService
from inferline.application.embedding_stats import EmbeddingStats
from inferline.application.embeddings import Embeddings, EmbeddingService
from inferline.application.inference import InferenceService
from inferline.application.jobs import JobService, SubmitJob
from inferline.domain.jobs import Job, JobEvent, JobStatus
from inferline.ports.chat import ChatInput, ChatOutput
from inferline.ports.events import EventBus
from inferline.ports.process import DatabaseCheck, ProcessState, WorkerState
from inferline.ports.serving import ModelCatalog, ModelServing, ServedModel
from inferline.ports.vectors import CollectionSpec, MetadataValue, Metric, SearchHit, Vector


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """A model's jobs waiting and running, at the monitor's last count."""

    waiting: int
    running: int


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether this process should get traffic, and why not."""

    ready: bool
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class ProcessHealth:
    """Each component of this process, for `/health`."""

    ready: bool
    roles: list[str]
    started_at: float
    database: DatabaseCheck
    models: list[ServedModel]
    workers: Sequence[WorkerState]
    relay_published: int | None
    domain_events: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingUsage:
    """The embedding model's counters since start (source S3's `/stats`)."""

    model: str
    stats: EmbeddingStats
    mean_batch_size: float | None


class DataPlane:
    """Jobs, inference, embeddings, chat, collections, models and process status, in one
    place."""

    def __init__(
        self,
        *,
        jobs: JobService,
        inference: InferenceService,
        embeddings: EmbeddingService,
        collections: CollectionService,
        dashboard: DashboardService,
        chat: ChatService,
        models: ModelServing,
        catalog: ModelCatalog,
        depths: QueueDepths,
        events: EventBus,
        process: ProcessState,
    ) -> None:
        self._jobs = jobs
        self._inference = inference
        self._embeddings = embeddings
        self._collections = collections
        self._dashboard = dashboard
        self._chat = chat
        self._models = models
        self._catalog = catalog
        self._depths = depths
        self._events = events
        self._process = process

    # -- jobs -------------------------------------------------------------------
    async def submit_job(self, command: SubmitJob) -> tuple[Job, bool]:
        """Validate and store one job; returns (job, created). Idempotent by key;
        Overloaded when the model's queue is at its limit."""
        return await self._jobs.submit(command)

    async def submit_jobs(self, commands: list[SubmitJob]) -> list[tuple[Job, bool]]:
        """Validate every job, then store them all in one transaction (all or nothing)."""
        return await self._jobs.submit_many(commands)

    async def get_job(self, tenant: str, job_id: str) -> Job:
        """One job of the tenant (NotFound otherwise)."""
        return await self._jobs.get(tenant, job_id)

    async def list_jobs(
        self,
        tenant: str,
        *,
        status: JobStatus | None = None,
        model: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> list[Job]:
        """Newest first, continuing after `cursor` (the last id of the previous page)."""
        return await self._jobs.list_jobs(
            tenant, status=status, model=model, limit=limit, cursor=cursor
        )

    async def cancel_job(self, tenant: str, job_id: str) -> Job:
        """Cancel a job that has not finished (Conflict when it has)."""
        return await self._jobs.cancel(tenant, job_id)

    async def retry_job(self, tenant: str, job_id: str) -> Job:
        """Queue a dead, cancelled or expired job again."""
        return await self._jobs.retry(tenant, job_id)

    async def job_timeline(self, tenant: str, job_id: str) -> list[JobEvent]:
        """Every recorded state change of one job, oldest first."""
        return await self._jobs.timeline(tenant, job_id)

    def subscribe(
        self, tenant: str, *, model: str | None = None, job_id: str | None = None
    ) -> AsyncGenerator[JobEvent, None]:
        """The tenant's job events from now on, optionally of one model (name or alias;
        NotFound at once when unknown) or one job. Close it with `aclose()`."""
        model_name = self._catalog.canonical(model) if model else None
        return self._events_of(tenant, model_name, job_id)

    async def _events_of(
        self, tenant: str, model: str | None, job_id: str | None
    ) -> AsyncGenerator[JobEvent, None]:
        subscription: AsyncIterator[JobEvent] = self._events.subscribe()
        try:
            async for event in subscription:
                if event.tenant != tenant:
                    continue
                if (model and event.model != model) or (job_id and event.job_id != job_id):
                    continue
                yield event
        finally:
            close = getattr(subscription, "aclose", None)
            if close is not None:
                await close()

    # -- models and inference ---------------------------------------------------
    def model_name(self, name: str) -> str:
        """The model's own name for a name or alias (NotFound when there is none)."""
        return self._catalog.canonical(name)

    def models(self) -> list[ServedModel]:
        """Every model this process serves, by name."""
        return self._models.served()

    def model(self, name: str) -> ServedModel:
        """A served model by name or alias (NotFound otherwise)."""
        return self._models.get(name)

    def queue_counts(self, model: str) -> QueueCounts:
        """Jobs of `model` waiting and running, at the last count."""
        return QueueCounts(
            waiting=self._depths.waiting.get(model, 0),
            running=self._depths.running.get(model, 0),
        )

    async def infer(
        self, model: str, inputs: list[Any], *, field: str = "inputs"
    ) -> list[dict[str, Any]]:
        """Run inputs now, ahead of queued jobs; outputs in input order."""
        return await self._inference.infer(model, inputs, field=field)

    # -- embeddings ---------------------------------------------------------------
    async def embed(
        self, texts: list[str], model: str | None = None, *, field: str = "texts"
    ) -> Embeddings:
        """Embed every text (cached ones from the cache); any invalid text rejects them all."""
        return await self._embeddings.embed(texts, model, field=field)

    async def similarity_of_texts(self, text1: str, text2: str, model: str | None = None) -> float:
        """Cosine similarity of two texts' embeddings."""
        return await self._embeddings.similarity_of_texts(text1, text2, model)

    def similarity_of_vectors(self, vector1: list[float], vector2: list[float]) -> float:
        """Cosine similarity of two vectors of the same length, neither all zeros."""
        return self._embeddings.similarity_of_vectors(vector1, vector2)

    def embedding_model(self, name: str | None = None) -> ServedModel:
        """A text-embedding model by name (default: the configured one)."""
        return self._embeddings.embedding_model(name)

    def embedding_models(self) -> list[ServedModel]:
        """Every served text-embedding model."""
        return self._embeddings.embedding_models()

    def embedding_usage(self) -> EmbeddingUsage:
        """Requests, texts, cache hits and latencies of the default embedding model."""
        return EmbeddingUsage(
            model=self._embeddings.embedding_model().name,
            stats=self._embeddings.stats,
            mean_batch_size=self._embeddings.mean_batch_size(),
        )

    # -- chat -------------------------------------------------------------------------
    def chat_model(self, name: str) -> ServedModel:
        """A served chat model by name or alias (NotFound when unknown, InvalidInput when
        the model is not a chat model)."""
        return self._chat.chat_model(name)

    def chat_models(self) -> list[ServedModel]:
        """Every served chat model."""
        return self._chat.chat_models()

    def chat_input(self, served: ServedModel, raw: dict[str, Any]) -> ChatInput:
        """A chat request as the model's input; InvalidInput names the field at fault."""
        return self._chat.validate(served, raw)

    async def complete_chat(self, served: ServedModel, item: ChatInput) -> ChatOutput:
        """The whole answer; cancelling the call stops the generation."""
        return await self._chat.complete(served, item)

    def stream_chat(self, served: ServedModel, item: ChatInput) -> ChatStream:
        """The answer's text as it is generated (call on the event loop; `aclose()` it)."""
        return self._chat.stream(served, item)

    # -- collections --------------------------------------------------------------
    async def list_collections(self) -> list[CollectionSpec]:
        """Every collection, by name."""
        return await self._collections.all()

    async def create_collection(
        self, name: str, dimension: int | None = None, metric: Metric = "cosine"
    ) -> tuple[CollectionSpec, bool]:
        """Create a collection; returns (spec, created). Conflict when a different one exists."""
        return await self._collections.create(name, dimension, metric)

    async def describe_collection(self, name: str) -> tuple[CollectionSpec, int]:
        """A collection's spec and item count."""
        return await self._collections.describe(name)

    async def drop_collection(self, name: str) -> None:
        """Delete a collection and its items."""
        await self._collections.drop(name)

    async def upsert_items(self, name: str, items: Sequence[NewItem]) -> int:
        """Insert or replace items (texts are embedded); returns how many."""
        return await self._collections.upsert(name, items)

    async def search(
        self,
        name: str,
        *,
        text: str | None = None,
        vector: Vector | None = None,
        k: int = 10,
        where: Mapping[str, MetadataValue] | None = None,
    ) -> list[SearchHit]:
        """The `k` nearest items to a text or a vector, filtered by metadata."""
        return await self._collections.search(name, text=text, vector=vector, k=k, where=where)

    async def delete_item(self, name: str, item_id: str) -> None:
        """Delete one item of a collection."""
        await self._collections.delete_item(name, item_id)

    # -- process status -------------------------------------------------------------
    @property
    def started_at(self) -> float:
        """When this process started (UNIX time)."""
        return self._process.started_at

    def readiness(self) -> Readiness:
        """Ready for traffic, or the reasons why not (`starting` when nothing else is known)."""
        reasons = self._process.connection_problems()
        database = self._process.database
        database_listed = any(r.startswith("database:") for r in reasons)
        if not database.database_ok and not database_listed:
            reasons.append(f"database: {database.database_error or 'not checked yet'}")
        for served in self._models.served():
            if served.load_error:
                reasons.append(f"model {served.name}: failed to load: {served.load_error}")
            elif not served.loaded:
                reasons.append(f"model {served.name}: loading")
        if reasons or not self._process.ready:
            return Readiness(False, reasons or ["starting"])
        return Readiness(True, [])

    def health(self) -> ProcessHealth:
        """Each component's state: database, models, workers, relay."""
        process = self._process
        return ProcessHealth(
            ready=process.ready,
            roles=sorted(process.roles),
            started_at=process.started_at,
            database=process.database,
            models=self._models.served(),
            workers=process.workers,
            relay_published=process.relay_published,
            domain_events=process.domain_events,
        )

    async def dashboard_snapshot(self, tenant: str | None) -> dict[str, Any]:
        """The dashboard's current figures (the message its WebSocket pushes)."""
        return await self._dashboard.snapshot(tenant)
