"""The Prometheus counters of incident alerts, on the process's registry (`/metrics`):
the throttle's `AlertCounters`, kept out of the framework-free application layer."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class AlertMetrics:
    """`inferline_notifications_{sent,failed,suppressed}_total`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.sent_total = Counter(
            "inferline_notifications_sent",
            "Alert messages delivered, by kind (first: an incident's first occurrence; "
            "follow_up: the count of the rest of its window).",
            ["kind"],
            registry=registry,
        )
        self.failed_total = Counter(
            "inferline_notifications_failed",
            "Alert messages not delivered, by kind and reason (rejected: the destination "
            "refused it; gave_up: retries ran out; queue_full; shutdown; error).",
            ["kind", "reason"],
            registry=registry,
        )
        self.suppressed_total = Counter(
            "inferline_notifications_suppressed",
            "Incident occurrences folded into a follow-up's count instead of a message.",
            registry=registry,
        )

    def sent(self, kind: str) -> None:
        self.sent_total.labels(kind).inc()

    def failed(self, kind: str, reason: str) -> None:
        self.failed_total.labels(kind, reason).inc()

    def suppressed(self, occurrences: int) -> None:
        self.suppressed_total.inc(occurrences)
