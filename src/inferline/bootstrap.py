"""The composition root: builds every adapter and service from settings. Nothing else wires."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum

from inferline.adapters.memory.events import InProcessEventBus
from inferline.adapters.sql.store import SqlJobStore
from inferline.application.inference import InferenceService
from inferline.application.jobs import JobService, QueueDepths
from inferline.core.metrics import Metrics
from inferline.core.settings import Settings
from inferline.domain.jobs import RetryPolicy
from inferline.ports.events import EventBus
from inferline.ports.store import JobStore
from inferline.runtime.monitor import QueueMonitor
from inferline.runtime.registry import ModelRegistry
from inferline.runtime.relay import OutboxRelay
from inferline.runtime.serving import ModelServer
from inferline.runtime.signals import CommitSignal
from inferline.worker.worker import Worker, WorkerConfig

log = logging.getLogger(__name__)


class Role(StrEnum):
    """What a process does; `inferline serve` does all three."""

    API = "api"
    WORKER = "worker"
    RELAY = "relay"


def build_store(settings: Settings) -> JobStore:
    """The job store named by INFERLINE_DATABASE_URL."""
    return SqlJobStore(settings.database_url)


def build_event_bus(settings: Settings) -> EventBus:
    """The event bus named by INFERLINE_EVENTS_URL."""
    if settings.events_url.startswith("memory:"):
        return InProcessEventBus()
    raise ValueError(f"events URL {settings.events_url!r} is not supported in this build")


@dataclass
class Container:
    """Everything one process runs, built from settings."""

    settings: Settings
    roles: frozenset[Role]
    metrics: Metrics
    registry: ModelRegistry
    store: JobStore
    bus: EventBus
    models: ModelServer
    depths: QueueDepths
    monitor: QueueMonitor
    jobs: JobService
    inference: InferenceService
    relay: OutboxRelay | None = None
    workers: list[Worker] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    _loading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, migrate, start the relay; load models in the background."""
        await self.store.start()
        await self.bus.start()
        await self.monitor.start()
        if self.relay is not None:
            await self.relay.start()
        self._loading = asyncio.create_task(self._load_models(), name="load-models")

    async def _load_models(self) -> None:
        await self.models.load_all()
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
            and self.models.all_loaded
            and self.monitor.database_ok
        )

    async def stop(self) -> None:
        """Graceful stop: drain the worker, stop models, flush events, close connections."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
        await asyncio.gather(*(worker.stop() for worker in self.workers))
        await self.models.stop()
        await self.monitor.stop()
        if self.relay is not None:
            await self.relay.stop()
        await self.bus.close()
        await self.store.close()


def build_container(
    settings: Settings,
    roles: frozenset[Role] = frozenset(Role),
    *,
    registry: ModelRegistry | None = None,
    workers_in_process: int = 1,
) -> Container:
    """Wire one process. `registry` lets tests and embedders add models."""
    metrics = Metrics()
    registry = (registry or ModelRegistry.from_entry_points()).select(settings.models)
    store = build_store(settings)
    bus = build_event_bus(settings)
    models = ModelServer(registry, settings, metrics)
    depths = QueueDepths()
    monitor = QueueMonitor(store, depths, metrics, registry.names())
    policy = RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds)
    committed = CommitSignal()
    container = Container(
        settings=settings,
        roles=roles,
        metrics=metrics,
        registry=registry,
        store=store,
        bus=bus,
        models=models,
        depths=depths,
        monitor=monitor,
        jobs=JobService(
            store, registry, metrics, depths,
            default_max_attempts=settings.default_max_attempts,
            max_queued_jobs=settings.max_queued_jobs,
            on_commit=committed.fire,
        ),
        inference=InferenceService(models, metrics),
    )
    if Role.RELAY in roles:
        container.relay = OutboxRelay(store, bus)
        committed.connect(container.relay.notify)
    if Role.WORKER in roles:
        config = WorkerConfig(
            lease_seconds=settings.lease_seconds,
            inflight_per_model=settings.inflight_per_model,
            poll_interval_seconds=settings.poll_interval_seconds,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            event_retention_seconds=settings.event_retention_seconds,
            job_retention_seconds=settings.job_retention_seconds,
        )
        for _ in range(workers_in_process):
            worker = Worker(store, models, metrics, policy, config, on_commit=committed.fire)
            committed.connect(worker.notify)
            container.workers.append(worker)
    return container
