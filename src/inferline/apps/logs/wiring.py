"""Builds the log ingest from what the composition root hands it: the stream sink of
`logs.raw` (Kafka, Redis Streams or the database's embedded table) and the dead-letter
store, behind their ports."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from inferline.apps.logs.forward import ForwardServer
from inferline.apps.logs.ingest import Incoming, IngestResult, LogIngest
from inferline.apps.logs.metrics import LogsMetrics
from inferline.apps.logs.settings import LogsSettings
from inferline.ports.logs import DeadLetterStore
from inferline.ports.streams import StreamSink

log = logging.getLogger(__name__)


@dataclass
class LogsApp:
    """The ingest's part of a process: the dead-letter store and the stream connected,
    `LogIngest` on top, and the Forward server when it has a port."""

    settings: LogsSettings
    dead_letters: DeadLetterStore
    sink: StreamSink
    ingest: LogIngest
    forward: ForwardServer | None = None
    _started: list[str] = field(default_factory=list)

    async def start(self) -> None:
        """Each part once, so a failed start (a taken port) can simply be called again."""
        if "dead_letters" not in self._started:
            await self.dead_letters.start()
            self._started.append("dead_letters")
        if "sink" not in self._started:
            await self.sink.start()
            self._started.append("sink")
        if self.forward is not None and "forward" not in self._started:
            await self.forward.start()
            self._started.append("forward")

    async def stop(self) -> None:
        """The server first (no record comes in any more), then the stream and the store."""
        for name in reversed(self._started):
            if name == "forward" and self.forward is not None:
                await self.forward.close()
            elif name == "sink":
                await self.sink.close()
            elif name == "dead_letters":
                await self.dead_letters.close()
        self._started.clear()


def build_logs_ingest(
    *,
    sink: StreamSink,
    dead_letters: DeadLetterStore,
    settings: LogsSettings | None = None,
    registry: CollectorRegistry | None = None,
    serve_forward: bool = True,
) -> LogsApp:
    """The ingest wired for one process. `sink`: where `logs.raw` is written (the topic
    is `settings.topic`; a broker adds its prefix). `serve_forward`: run the Forward
    server (API processes) when INFERLINE_LOGS_FORWARD_PORT is set."""
    config = settings or LogsSettings()
    metrics = LogsMetrics(registry)
    ingest = LogIngest(
        sink,
        dead_letters,
        topic=config.topic,
        metrics=metrics,
        dead_letter_max_bytes=config.dead_letter_max_bytes,
        send_batch=config.send_batch,
    )
    forward = None
    if serve_forward and config.forward_port is not None:

        async def accept(items: list[Incoming]) -> IngestResult:
            return await ingest.accept_incoming(items, source="forward", tenant=config.tenant)

        forward = ForwardServer(
            accept,
            host=config.forward_host,
            port=config.forward_port,
            max_frame_bytes=config.forward_max_frame_bytes,
            metrics=metrics,
        )
    return LogsApp(config, dead_letters, sink, ingest, forward)
