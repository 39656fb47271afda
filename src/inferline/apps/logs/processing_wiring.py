"""Builds the consumer of `logs.raw` (templates and incidents) and the incident service
from what the composition root hands in: the store, the stream source, the registry.

One process per deployment runs the consumer: each tenant's template miner lives in the
process that mines it (its state is stored with every batch that changes it, and loaded
at start). `inferline serve` runs it; an API process without the stream role only
serves what is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from inferline.apps.logs.incident_metrics import LogsProcessingMetrics
from inferline.apps.logs.incident_service import IncidentService
from inferline.apps.logs.incident_settings import LogsProcessingSettings
from inferline.apps.logs.incidents import (
    GroupingConfig,
    IncidentGrouper,
    IncidentListener,
    Listeners,
)
from inferline.apps.logs.mining import BatchMiner, ProcessMiner, ThreadMiner
from inferline.apps.logs.processor import LogsProcessor
from inferline.apps.logs.responders import IncidentResponder
from inferline.apps.logs.templates import MinerConfig, TemplateMiners
from inferline.ports.log_archive import LogArchive
from inferline.ports.logs import LogsStore
from inferline.ports.streams import StreamSource

STREAM_GROUP = "logs-incidents"
"""The consumer group on Kafka / Redis Streams, and the consumer's name in the store."""


@dataclass
class LogsProcessingApp:
    """The incident service of one process and, where it runs, the stream consumer.
    `listeners`: add the other parts' `IncidentListener`s before `start`."""

    settings: LogsProcessingSettings
    store: LogsStore
    service: IncidentService
    listeners: Listeners
    metrics: LogsProcessingMetrics
    source: Callable[[], StreamSource] | None
    archive: LogArchive | None = None
    responder: IncidentResponder | None = None
    processor: LogsProcessor | None = None
    _started: list[str] = field(default_factory=list)

    async def start(self) -> None:
        """Connect, then start the consumer; a failed start can simply be called again."""
        if "store" not in self._started:
            await self.store.start()
            self._started.append("store")
        if self.responder is not None and "responder" not in self._started:
            await self.responder.start()
            self._started.append("responder")
        if self.source is None or self.processor is not None:
            return
        if self.archive is not None and "archive" not in self._started:
            await self.archive.start()
            self._started.append("archive")
        config = self.settings
        drain = MinerConfig(
            depth=config.drain_depth,
            similarity=config.drain_similarity,
            max_templates=config.drain_max_templates,
        )
        miner: BatchMiner = (
            ProcessMiner(drain) if config.mining_process else ThreadMiner(TemplateMiners(drain))
        )
        processor = LogsProcessor(
            self.source(),
            self.store,
            miner,
            IncidentGrouper(
                GroupingConfig(
                    window_seconds=config.incident_window_seconds,
                    max_samples=config.incident_samples,
                    max_parameter_values=config.incident_parameter_values,
                )
            ),
            self.listeners,
            self.metrics,
            config.topic,
            consumer=STREAM_GROUP,
            archive=self.archive,
            batch_size=config.batch_size,
            batch_timeout=config.batch_timeout_seconds,
        )
        await processor.start()
        self.processor = processor

    async def stop(self) -> None:
        if self.processor is not None:
            await self.processor.stop()
            self.processor = None
        if "responder" in self._started and self.responder is not None:
            await self.responder.stop()
        if "archive" in self._started and self.archive is not None:
            await self.archive.close()
        if "store" in self._started:
            await self.store.close()
        self._started.clear()


def build_logs_processing(
    *,
    store: LogsStore,
    registry: CollectorRegistry,
    source: Callable[[str], StreamSource] | None,
    listeners: list[IncidentListener] | None = None,
    settings: LogsProcessingSettings | None = None,
    archive: LogArchive | None = None,
    responder: Callable[[IncidentService], IncidentResponder] | None = None,
) -> LogsProcessingApp:
    """The log processing of one process. `source(topic)`: the stream to consume (Kafka,
    Redis Streams or the embedded table), or None in a process that only serves the API
    (also when INFERLINE_LOGS_PROCESSING_ENABLED is off). `listeners`: hear of incidents
    opened, grown and resolved. `archive`: where the consumer keeps every line for the
    batch jobs. `responder(service)`: the memory, analysis and alerts, as a listener (it
    stores its analyses through the incident service)."""
    config = settings or LogsProcessingSettings()
    fan_out = Listeners(listeners)
    topic = config.topic
    service = IncidentService(store, fan_out)
    responding = responder(service) if responder is not None else None
    if responding is not None:
        fan_out.add(responding)

    def consumer_source() -> StreamSource:
        assert source is not None
        return source(topic)

    return LogsProcessingApp(
        settings=config,
        store=store,
        service=service,
        listeners=fan_out,
        metrics=LogsProcessingMetrics(registry),
        source=consumer_source if source is not None and config.processing_enabled else None,
        archive=archive,
        responder=responding,
    )
