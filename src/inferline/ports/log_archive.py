"""The log archive and the batch jobs' reports (source S4's log analysis).

`LogArchive` keeps every validated log line of a tenant for a few days (retention): the
consumer of `logs.raw` appends each batch with the template ids it mined, the batch
jobs read ranges back in bounded chunks or ask the database for counts. `LogReports`
keeps what the batch jobs found: a quality report per tenant and day, counts per
tenant and hour, and how far each job has got (so a restarted scheduler catches up).

Times are UNIX seconds (UTC). Two times per record: `timestamp`, when the line was
written (the collector's), and `received_at`, when the archive took it; the received
order is (`received_at`, `seq`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

TimeColumn = Literal["timestamp", "received_at"]


class ArchiveLine(NamedTuple):
    """One line as the archive stores it, built where the line is mined (a tuple: it
    crosses from the mining process cheaply). `record_hash`: the fingerprint of its
    content (time, origin, level, text, trace); identical lines have the same one, which
    is what the duplicate rate counts."""

    timestamp: float
    service: str
    level: str
    message: str
    template_id: str | None
    trace_id: str | None
    span_id: str | None
    k8s_namespace: str | None
    k8s_pod: str | None
    k8s_container: str | None
    k8s_node: str | None
    tag: str | None
    attributes: dict[str, Any] | None
    record_hash: str


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    """One archived line as the batch jobs read it (`seq`: the archive's own order)."""

    seq: int
    timestamp: float
    received_at: float
    service: str
    level: str
    message: str
    template_id: str | None
    trace_id: str | None
    record_hash: str


@dataclass(frozen=True, slots=True)
class GroupCount:
    """How many lines of one service, level and template (None: not mined) in a range."""

    service: str
    level: str
    template_id: str | None
    count: int


@dataclass(frozen=True, slots=True)
class DuplicateStats:
    """Identical lines in a range: all lines, how many repeat an earlier identical one,
    and up to `examples` repeated lines (one of each) with how often they occur."""

    records: int
    duplicates: int
    examples: list[tuple[ArchivedRecord, int]]


@dataclass(frozen=True, slots=True)
class HourlyCount:
    """A stored row of the hourly aggregation."""

    hour: float
    service: str
    level: str
    template_id: str | None
    count: int


class LogArchive(Protocol):
    """The archived lines of every tenant (SQL: the `log_records` table)."""

    async def start(self) -> None:
        """Connect (and bring the schema up to date)."""

    async def close(self) -> None:
        """Disconnect."""

    async def append(
        self,
        tenant: str,
        lines: Sequence[ArchiveLine],
        *,
        received_at: float | None = None,
    ) -> int:
        """Store a batch of lines in one multi-row insert, in the order given (their
        received order); returns how many were stored."""
        ...

    def chunks(
        self,
        tenant: str,
        start: float,
        end: float,
        *,
        by: TimeColumn = "timestamp",
        size: int = 50_000,
    ) -> AsyncIterator[list[ArchivedRecord]]:
        """The lines with `start <= by < end`, in `by` order then `seq` (for `received_at`:
        the received order), at most `size` at a time (keyset pages: bounded memory)."""
        ...

    async def counts(self, tenant: str, start: float, end: float) -> list[GroupCount]:
        """Lines with `start <= timestamp < end` counted by service, level and template."""
        ...

    async def duplicates(
        self, tenant: str, start: float, end: float, *, by: TimeColumn, examples: int = 5
    ) -> DuplicateStats:
        """Identical lines (same `record_hash`) among those with `start <= by < end`."""
        ...

    async def tenants(self, start: float, end: float, *, by: TimeColumn) -> list[str]:
        """The tenants with lines in the range."""
        ...

    async def oldest(self, *, by: TimeColumn) -> float | None:
        """The earliest `by` time of any archived line (None: the archive is empty)."""
        ...

    async def prune(self, older_than: float) -> int:
        """Delete the lines received before `older_than`; returns how many."""
        ...


class LogReports(Protocol):
    """What the batch jobs found, and how far each got (SQL: three small tables)."""

    async def start(self) -> None:
        """Connect (and bring the schema up to date)."""

    async def close(self) -> None:
        """Disconnect."""

    async def save_quality(
        self, tenant: str, day: str, passed: bool, report: dict[str, Any], *, at: float
    ) -> None:
        """Store (or replace) the quality report of `tenant` and `day` (YYYY-MM-DD)."""

    async def quality(self, tenant: str, day: str) -> dict[str, Any] | None:
        """The stored quality report of that day, or None."""
        ...

    async def latest_quality(self, tenant: str) -> dict[str, Any] | None:
        """The quality report of the latest day checked, or None."""
        ...

    async def replace_hour(self, tenant: str, hour: float, counts: Sequence[GroupCount]) -> None:
        """Make `counts` the hour's rows (the hour's earlier rows go): re-runs are idempotent."""

    async def hourly(self, tenant: str, start: float, end: float) -> list[HourlyCount]:
        """Stored counts of the hours that start in `[start, end)`, by hour then count."""
        ...

    async def progress(self, job: str) -> float | None:
        """The start of the last period `job` completed, or None when it never ran."""
        ...

    async def set_progress(self, job: str, period: float, *, at: float) -> None:
        """Record that `job` completed the period starting at `period`."""
