"""Models loaded in this process, each behind its own micro-batcher."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from inferline.core.metrics import Metrics
from inferline.core.settings import BatchingOverride, Settings
from inferline.domain.errors import Unavailable
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.model import InferenceModel
from inferline.ports.serving import BatchingConfig, Lane, ServedModel
from inferline.runtime.batcher import MicroBatcher
from inferline.runtime.registry import ModelRegistry

log = logging.getLogger(__name__)


@dataclass
class BatchedModel:
    """One model class, its instance once loaded, and its batcher (a `ServedModel`)."""

    model_class: type[InferenceModel]
    batching: BatchingConfig
    instance: InferenceModel | None = None
    batcher: MicroBatcher | None = None
    load_seconds: float | None = None
    load_error: str | None = None

    @property
    def name(self) -> str:
        return self.model_class.name

    @property
    def loaded(self) -> bool:
        return self.batcher is not None

    @property
    def pending(self) -> int:
        return self.batcher.pending if self.batcher is not None else 0

    async def infer(
        self, item: BaseModel, lane: Lane, *, deadline: float | None = None
    ) -> dict[str, Any]:
        """Run one validated input through the batcher; the output as a JSON-ready dict.
        With a `deadline` (UNIX time) it fails with `DeadlineExceeded` instead of running late."""
        if self.batcher is None:
            raise Unavailable(f"model {self.name} is not loaded yet", retry_after=1.0)
        result: dict[str, Any] = await self.batcher.submit(item, lane, deadline=deadline)
        return result


class ModelServer:
    """Loads the selected models and owns their batchers."""

    def __init__(
        self,
        registry: ModelRegistry,
        settings: Settings,
        metrics: Metrics,
        *,
        factories: Mapping[str, Callable[[], InferenceModel]] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """`clock` is the time the batchers compare items' deadlines with."""
        self.registry = registry
        self.clock = clock
        self.metrics = metrics
        self.factories = dict(factories or {})  # models built with settings (by name)
        self.torch_threads = settings.torch_threads
        self.models: dict[str, BatchedModel] = {}
        for name in registry.names():
            cls = registry.get(name)
            self.models[name] = BatchedModel(cls, batching_config(cls, settings))

    def get(self, name: str) -> BatchedModel:
        """A served model by name or alias (NotFound otherwise)."""
        return self.models[self.registry.canonical(name)]

    def served(self) -> list[ServedModel]:
        """Every model of this process, loaded or not, by name."""
        return list(self.models.values())

    @property
    def all_loaded(self) -> bool:
        return all(m.loaded for m in self.models.values())

    async def load_all(self) -> None:
        """Load every model off the event loop, one after another, then start batchers."""
        threads = self.torch_threads or self._auto_torch_threads()
        if threads is not None:
            _limit_torch_threads(threads)
        for served in self.models.values():
            await self._load(served)

    def _auto_torch_threads(self) -> int | None:
        """With parallel instances, each gets its share of the cores (torch's count is global)."""
        instances = max((m.batching.instances for m in self.models.values()), default=1)
        if instances <= 1 or importlib.util.find_spec("torch") is None:
            return None
        return threads_per_instance(instances)

    async def _load(self, served: BatchedModel) -> None:
        started = time.perf_counter()
        instance = self.factories.get(served.name, served.model_class)()
        try:
            await asyncio.to_thread(_load_and_warm, instance)
        except Exception as exc:
            served.load_error = f"{type(exc).__name__}: {exc}"
            self.metrics.model_loaded.labels(served.name).set(0)  # alerts see the failure
            log.exception("model %s failed to load", served.name)
            return
        served.instance = instance
        served.load_seconds = time.perf_counter() - started
        batcher = MicroBatcher(
            served.name,
            _predict_fn(instance),
            served.batching,
            on_batch=self._observer(served.name),
            on_abandoned=self._abandon_counter(served.name),
            clock=self.clock,
        )
        served.batcher = batcher
        await batcher.start()
        self.metrics.batcher_pending.labels(served.name).set_function(lambda: batcher.pending)
        self.metrics.model_load.labels(served.name).set(served.load_seconds)
        self.metrics.model_loaded.labels(served.name).set(1)
        log.info(
            "model %s loaded in %.2fs",
            served.name,
            served.load_seconds,
            extra={"model": served.name},
        )

    def _observer(self, name: str) -> Any:
        size_metric = self.metrics.batch_size.labels(name)
        time_metric = self.metrics.service_time.labels(name)

        def observe(size: int, seconds: float) -> None:
            size_metric.observe(size)
            time_metric.observe(seconds)

        return observe

    def _abandon_counter(self, name: str) -> Callable[[Lane], None]:
        counter = self.metrics.sync_abandoned.labels(name)

        def abandoned(lane: Lane) -> None:
            if lane is Lane.SYNC:  # a job's item is dropped only when its worker stops
                counter.inc()

        return abandoned

    async def stop(self) -> None:
        """Stop every batcher."""
        for served in self.models.values():
            if served.batcher is not None:
                await served.batcher.stop()
                served.batcher = None
                self.metrics.model_loaded.labels(served.name).set(0)


def batching_config(cls: type[InferenceModel], settings: Settings) -> BatchingConfig:
    """The model's batching hints, or its hints for INFERLINE_PROFILE, with the settings'
    overrides (INFERLINE_BATCHING) on top."""
    hints: dict[str, float] = {
        "max_batch_size": cls.max_batch_size,
        "max_wait_ms": cls.max_wait_ms,
        "instances": cls.instances,
    }
    if settings.profile is not None:
        default = {"max_batch_size": 1, "instances": 1} if settings.profile == "standard" else {}
        hints.update(cls.batching_profiles.get(settings.profile, default))
    override = settings.batching.get(cls.name) or BatchingOverride()
    instances = override.instances or int(hints["instances"]) or cores()
    return BatchingConfig(
        max_batch_size=override.max_batch_size or int(hints["max_batch_size"]),
        max_wait_ms=hints["max_wait_ms"] if override.max_wait_ms is None else override.max_wait_ms,
        max_pending_sync=settings.max_pending_sync,
        instances=instances,
        profile=settings.profile,
    )


def cores() -> int:
    """The cores this process may use, not the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_per_instance(instances: int) -> int:
    """Compute threads for each of `instances` parallel batches: this process's cores, shared."""
    return max(1, cores() // instances)


def _load_and_warm(instance: InferenceModel) -> None:
    instance.load()
    instance.warmup()


def _predict_fn(instance: InferenceModel) -> Any:
    def predict(items: list[Any]) -> list[dict[str, Any]]:
        return [out.model_dump(mode="json") for out in instance.predict_batch(items)]

    return predict


def _limit_torch_threads(threads: int) -> None:
    """Cap PyTorch's intra-op threads for this process (all of its models share them)."""
    import torch

    torch.set_num_threads(threads)
    log.info("PyTorch limited to %d threads", threads)
