"""What the API and the other parts of the log analysis do with stored incidents and
templates: list and read them (a tenant's own), resolve an incident (its listeners hear
of it: the memory of past incidents embeds the resolution), store an analysis."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from inferline.apps.logs.incidents import IncidentListener
from inferline.ports.logs import Incident, IncidentFilter, LogsStore, LogTemplate


class IncidentService:
    """The stored side of incidents and templates, for routes and other parts."""

    def __init__(
        self,
        store: LogsStore,
        listener: IncidentListener,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.listener = listener
        self.clock = clock

    async def incidents(
        self, tenant: str, where: IncidentFilter, limit: int, cursor: str | None
    ) -> tuple[list[Incident], str | None]:
        return await self.store.incidents(tenant, where, limit, cursor)

    async def incident(self, tenant: str, incident_id: str) -> Incident:
        return await self.store.incident(tenant, incident_id)

    async def templates(self, tenant: str, service: str | None, limit: int) -> list[LogTemplate]:
        return await self.store.templates(tenant, service, limit)

    async def resolve(self, tenant: str, incident_id: str, resolution: str) -> Incident:
        """Resolve the tenant's incident (`NotFound` for another's), then tell the
        listeners. The next error of its template opens a new incident."""
        incident = await self.store.resolve(incident_id, resolution, self.clock(), tenant=tenant)
        await self.listener.resolved(incident)
        return incident

    async def set_analysis(self, incident_id: str, analysis: dict[str, Any]) -> Incident:
        """Store an incident's analysis (the LLM analysis part calls it)."""
        return await self.store.set_analysis(incident_id, analysis)
