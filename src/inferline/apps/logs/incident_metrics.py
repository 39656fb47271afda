"""The log processing's Prometheus metrics, on the process's registry (`/metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class LogsProcessingMetrics:
    """Lines processed, templates known, incidents opened, how far behind the stream is."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lines_processed = Counter(
            "inferline_logs_lines_processed",
            "Log lines mined and stored from the stream, by outcome (mined, replayed: "
            "skipped as already stored, invalid: not a log record).",
            ["outcome"],
            registry=registry,
        )
        self.templates = Gauge(
            "inferline_logs_templates",
            "Log templates the miners of this process know (every tenant's).",
            registry=registry,
        )
        self.incidents_opened = Counter(
            "inferline_logs_incidents_opened",
            "Incidents opened, by level.",
            ["level"],
            registry=registry,
        )
        self.stream_lag = Gauge(
            "inferline_logs_processing_lag_records",
            "Records of the log stream not processed yet.",
            registry=registry,
        )
        self.delay = Gauge(
            "inferline_logs_processing_delay_seconds",
            "How long before it was stored the newest line of the last batch was logged.",
            registry=registry,
        )
