"""Incidents: errors of one template of one service, grouped by time.

An ERROR or FATAL line opens an incident for its (tenant, service, template) unless one is
open whose last line is at most `window_seconds` before it: then it joins that one (its
count, last seen, the first few lines as samples, the distinct values of the template's
parameters, its level raised to FATAL by a fatal line). After a quiet window, or once the
incident is resolved, the next error opens a new one. Time is the lines' own timestamps,
never the clock, so a replay of the same stream groups the same way.

The grouping is pure: `IncidentGrouper.group` returns the incidents a batch opens or grows
without changing what it remembers; `remember` takes them once they are stored. The
processor loads from the store the newest incident of every key in a batch, so a window
spans restarts and an incident resolved by an operator (in any process) takes no more.

`IncidentListener` is how the other parts of the log analysis hear of incidents (the LLM
analysis, the Slack notifier, the memory of past incidents): called after the change is
stored, never inside the transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any, Protocol

from inferline.apps.logs.records import Level
from inferline.ports.logs import Incident, IncidentKey

log = logging.getLogger(__name__)

OPEN = "open"
RESOLVED = "resolved"
STATUSES = (OPEN, RESOLVED)
INCIDENT_NAMESPACE = uuid.UUID("6c1f3f0e-95a4-4f0b-8a51-3d6b2c7e4a19")
MAX_SAMPLE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class ErrorLine:
    """One mined ERROR/FATAL line; `origin` (topic/partition/position) names it uniquely,
    so an incident it opens has the same id however often the stream is replayed."""

    tenant: str
    service: str
    template_id: int
    template: str
    level: Level
    at: float
    message: str
    trace_id: str | None
    parameters: tuple[tuple[str, str], ...]
    origin: str

    @property
    def key(self) -> IncidentKey:
        return (self.tenant, self.service, self.template_id)


@dataclass(frozen=True, slots=True)
class Grouped:
    """What a batch does: incidents it opens (in their state after the batch) and
    incidents that existed before it and grew."""

    opened: list[Incident]
    grown: list[Incident]


@dataclass(frozen=True, slots=True)
class GroupingConfig:
    window_seconds: float = 300.0
    max_samples: int = 5
    max_parameter_values: int = 10


class IncidentGrouper:
    """Groups error lines into incidents (see the module); remembers each key's newest."""

    def __init__(self, config: GroupingConfig | None = None) -> None:
        self.config = config or GroupingConfig()
        self._latest: dict[IncidentKey, Incident] = {}

    def remember(self, incidents: list[Incident]) -> None:
        for incident in incidents:
            known = self._latest.get(incident.key)
            if known is None or known.first_seen <= incident.first_seen:
                self._latest[incident.key] = incident

    def forget(self) -> None:
        """Drop what is remembered (after a failed store: reload it from the store)."""
        self._latest.clear()

    def group(self, lines: list[ErrorLine]) -> Grouped:
        latest: dict[IncidentKey, Incident] = {}
        opened: dict[str, Incident] = {}
        grown: dict[str, Incident] = {}
        for line in sorted(lines, key=lambda item: item.at):
            current = latest.get(line.key) or self._latest.get(line.key)
            if current is not None and self._joins(current, line):
                incident = self._grow(current, line)
                (opened if current.id in opened else grown)[incident.id] = incident
            else:
                incident = self._open(line)
                opened[incident.id] = incident
            latest[line.key] = incident
        return Grouped(list(opened.values()), list(grown.values()))

    def _joins(self, incident: Incident, line: ErrorLine) -> bool:
        return incident.status == OPEN and line.at - incident.last_seen <= (
            self.config.window_seconds
        )

    def _open(self, line: ErrorLine) -> Incident:
        name = f"{line.tenant}\n{line.service}\n{line.template_id}\n{line.origin}"
        return Incident(
            id=str(uuid.uuid5(INCIDENT_NAMESPACE, name)),
            tenant=line.tenant,
            service=line.service,
            template_id=line.template_id,
            template=line.template,
            level=line.level.value,
            status=OPEN,
            count=1,
            first_seen=line.at,
            last_seen=line.at,
            samples=[_sample(line)],
            parameters=self._merge_parameters([], line.parameters),
        )

    def _grow(self, incident: Incident, line: ErrorLine) -> Incident:
        samples = incident.samples
        if len(samples) < self.config.max_samples:
            samples = [*samples, _sample(line)]
        fatal = Level.FATAL.value in (incident.level, line.level.value)
        return replace(
            incident,
            template=line.template,
            level=Level.FATAL.value if fatal else incident.level,
            count=incident.count + 1,
            first_seen=min(incident.first_seen, line.at),
            last_seen=max(incident.last_seen, line.at),
            samples=samples,
            parameters=self._merge_parameters(incident.parameters, line.parameters),
        )

    def _merge_parameters(
        self, known: list[dict[str, Any]], seen: tuple[tuple[str, str], ...]
    ) -> list[dict[str, Any]]:
        """Per parameter slot, its mask and up to `max_parameter_values` distinct values."""
        merged = [{"mask": slot["mask"], "values": list(slot["values"])} for slot in known]
        for index, (mask, value) in enumerate(seen):
            if index == len(merged):
                merged.append({"mask": mask, "values": []})
            values: list[str] = merged[index]["values"]
            if value not in values and len(values) < self.config.max_parameter_values:
                values.append(value[:MAX_SAMPLE_CHARS])
        return merged


def _sample(line: ErrorLine) -> dict[str, Any]:
    return {
        "at": line.at,
        "level": line.level.value,
        "message": line.message[:MAX_SAMPLE_CHARS],
        "trace_id": line.trace_id,
    }


class IncidentListener(Protocol):
    """Hears of incidents after they are stored. `opened`: a new incident (its state after
    the batch that opened it); `grew`: an existing one took more lines; `resolved`: an
    operator resolved it (`POST .../resolve`). A listener that raises is logged and does
    not stop the processing: the incident is stored either way."""

    async def opened(self, incident: Incident) -> None: ...

    async def grew(self, incident: Incident) -> None: ...

    async def resolved(self, incident: Incident) -> None: ...


class Listeners:
    """Several listeners as one; each is called in turn and its failure only logged."""

    def __init__(self, listeners: list[IncidentListener] | None = None) -> None:
        self.listeners = list(listeners or [])

    def add(self, listener: IncidentListener) -> None:
        self.listeners.append(listener)

    async def opened(self, incident: Incident) -> None:
        for listener in self.listeners:
            await _safely(listener.opened, incident)

    async def grew(self, incident: Incident) -> None:
        for listener in self.listeners:
            await _safely(listener.grew, incident)

    async def resolved(self, incident: Incident) -> None:
        for listener in self.listeners:
            await _safely(listener.resolved, incident)


async def _safely(call: Any, incident: Incident) -> None:
    try:
        await call(incident)
    except Exception:
        log.exception("incident listener %s failed for incident %s", call, incident.id)
