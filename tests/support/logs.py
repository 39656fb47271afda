"""Log lines for the log archive's and batch jobs' tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from inferline.apps.logs.records import KubernetesMeta, LogRecord, normalise_level
from inferline.ports.log_archive import ArchiveLine


def log_line(
    at: float,
    *,
    service: str = "checkout",
    level: str = "INFO",
    message: str = "order placed",
    trace_id: str | None = None,
    pod: str | None = None,
) -> LogRecord:
    """A valid line written at UNIX time `at`."""
    return LogRecord(
        timestamp=datetime.fromtimestamp(at, UTC),
        service=service,
        level=normalise_level(level),
        message=message,
        trace_id=trace_id,
        kubernetes=KubernetesMeta(namespace="shop", pod=pod) if pod else None,
        attributes={"user": "u1"} if trace_id else {},
    )


def archive_lines(lines: Iterable[tuple[LogRecord, str | None]]) -> list[ArchiveLine]:
    """(line, template id) pairs as the archive takes them."""
    return [line.archive_line(template_id) for line, template_id in lines]
