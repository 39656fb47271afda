"""The log ingest's Prometheus metrics, on the process's registry (`/metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class LogsMetrics:
    """Records accepted by source, dead-lettered by source and reason class, and the
    Forward protocol's connections and rejected frames."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.accepted = Counter(
            "inferline_logs_records_accepted",
            "Log records validated and sent to the stream, by source (forward, http).",
            ["source"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "inferline_logs_records_dead_lettered",
            "Log records kept as dead letters, by source and reason class (e.g. missing, "
            "not_a_map, malformed_frame).",
            ["source", "reason"],
            registry=registry,
        )
        self.forward_connections = Gauge(
            "inferline_logs_forward_connections",
            "Open connections to the Fluent Forward protocol server.",
            registry=registry,
        )
        self.forward_closed = Counter(
            "inferline_logs_forward_connections_closed",
            "Forward connections the server closed, by why (malformed, too_large, failed).",
            ["reason"],
            registry=registry,
        )
