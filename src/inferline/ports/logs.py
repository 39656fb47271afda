"""The log analysis ports: the dead letters of the ingest, and the store of what the
consumer of `logs.raw` makes of it (templates, incidents, its place in the stream).

A dead letter (a record that failed validation) is never dropped: it keeps the reason,
the original bytes (the msgpack or JSON of the map, cut to a bounded size; `raw_size` is
the full size), where it came from (`forward` or `http`), its tag and when it arrived,
under the tenant it came in for.

A stream batch is stored as one `LogsBatch` in one transaction: the templates' counts, the
incidents opened or grown, the miners' state and the batch's stream positions, each with
a digest of its record. They make a replayed batch (the process died after storing,
before committing on the stream) a no-op instead of a second count; the digest tells a
record read again from a new one at a reused position (the embedded stream on SQLite
numbers rows anew once its table is empty). Times are UNIX seconds, as in every
Inferline table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record that could not become a `LogRecord`."""

    tenant: str
    source: str
    tag: str | None
    reason: str
    reason_class: str
    """A short, bounded name of the kind of problem (e.g. `missing`, `malformed_frame`),
    for metrics and filtering; `reason` has the full text."""
    raw: bytes
    raw_size: int
    received_at: float
    id: int | None = None
    """Given by the store; newer letters have larger ids."""


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    """Newest first; `next_cursor` continues with older ones (None: no more)."""

    letters: list[DeadLetter]
    next_cursor: str | None


class DeadLetterStore(Protocol):
    """The dead letters of every tenant."""

    async def start(self) -> None:
        """Connect (and bring the schema up to date)."""

    async def close(self) -> None:
        """Disconnect."""

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        """Keep these letters (all or none)."""

    async def page(self, tenant: str, *, limit: int, cursor: str | None) -> DeadLetterPage:
        """The tenant's letters, newest first, `limit` at a time, after `cursor` (a
        `next_cursor` this store gave out; raises `InvalidInput` for any other)."""

    async def count(self, tenant: str) -> int:
        """How many letters the tenant has."""


IncidentKey = tuple[str, str, int]
"""(tenant, service, template id): the errors that make up one incident."""

PartitionKey = tuple[str, int]
"""(topic, partition) of the input stream."""


@dataclass(frozen=True, slots=True)
class TemplateSighting:
    """What one batch adds to a template's figures for one service."""

    tenant: str
    template_id: int
    service: str
    text: str
    count: int
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class LogTemplate:
    """A template as stored: its text and, for one service, how often and when it was seen."""

    tenant: str
    template_id: int
    service: str
    text: str
    count: int
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class Incident:
    """Errors of one template of one service, close together in time."""

    id: str
    tenant: str
    service: str
    template_id: int
    template: str
    level: str
    status: str
    """`open` or `resolved`."""
    count: int
    first_seen: float
    last_seen: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    """The first few lines (timestamp, level, message, trace id)."""
    parameters: list[dict[str, Any]] = field(default_factory=list)
    """Per parameter of the template: its mask and the distinct values seen (bounded)."""
    resolution: str | None = None
    resolved_at: float | None = None
    analysis: dict[str, Any] | None = None

    @property
    def key(self) -> IncidentKey:
        return (self.tenant, self.service, self.template_id)


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    """`GET /api/v1/logs/incidents`' filters; `since`/`until` select incidents active then."""

    service: str | None = None
    status: str | None = None
    level: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass(slots=True)
class LogsBatch:
    """Everything one stream batch changes, stored in one transaction."""

    positions: dict[PartitionKey, dict[str, str]] = field(default_factory=dict)
    """Per partition, the batch's positions and their records' digests."""
    templates: list[TemplateSighting] = field(default_factory=list)
    opened: list[Incident] = field(default_factory=list)
    grown: list[Incident] = field(default_factory=list)
    miner_states: dict[str, bytes] = field(default_factory=dict)
    """Per tenant, the template miner's state after the batch (only the tenants it changed)."""


class LogsStore(Protocol):
    """Templates, incidents, miner states and stream positions of the log analysis."""

    async def start(self) -> None:
        """Connect and bring the schema up to date (raises while the database is down)."""

    async def close(self) -> None: ...

    async def processed_positions(
        self, consumer: str, partitions: list[PartitionKey]
    ) -> dict[PartitionKey, dict[str, str]]:
        """Per partition, the positions of the last batch stored and their records'
        digests (a replay skips those records)."""

    async def miner_states(self) -> dict[str, bytes]:
        """Every tenant's template miner state, as last stored."""

    async def latest_incidents(self, keys: list[IncidentKey]) -> dict[IncidentKey, Incident]:
        """The newest incident of each key that has one."""

    async def save_batch(self, consumer: str, batch: LogsBatch) -> None:
        """Store the batch in one transaction (or none of it)."""

    async def incidents(
        self, tenant: str, where: IncidentFilter, limit: int, cursor: str | None
    ) -> tuple[list[Incident], str | None]:
        """Newest first (by first seen); the cursor of the next page, or None at the end.
        Raises `InvalidInput` for a cursor it did not make."""

    async def incident(self, tenant: str, incident_id: str) -> Incident:
        """Raises `NotFound` for an unknown id or another tenant's."""

    async def templates(self, tenant: str, service: str | None, limit: int) -> list[LogTemplate]:
        """Most frequent first."""

    async def set_analysis(self, incident_id: str, analysis: dict[str, Any]) -> Incident:
        """Store the analysis of an incident (raises `NotFound`)."""

    async def resolve(
        self, incident_id: str, resolution: str, at: float, *, tenant: str | None = None
    ) -> Incident:
        """Mark it resolved with its resolution; with `tenant`, another tenant's id is
        `NotFound`."""
