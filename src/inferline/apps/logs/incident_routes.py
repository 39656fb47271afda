"""The log analysis's incidents and templates over HTTP (`/api/v1/logs/...`), the caller's
tenant's only: another tenant's incident is not found."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from inferline.api.deps import TenantDep
from inferline.api.errors import error_responses
from inferline.apps.logs.incident_service import IncidentService
from inferline.domain.errors import InvalidInput, Unavailable
from inferline.ports.logs import Incident, IncidentFilter, LogTemplate

router = APIRouter(tags=["logs (source S4)"])

Status = Literal["open", "resolved"]
IncidentLevel = Literal["ERROR", "FATAL"]
IncidentId = Annotated[UUID, Path(description="The incident's id.")]


async def get_incidents(request: Request) -> IncidentService:
    """Dependency: this process's incident service (`app.state.log_incidents`)."""
    app = getattr(request.app.state, "log_incidents", None)
    if app is None:
        raise Unavailable("the log analysis is not running in this process", retry_after=1.0)
    service: IncidentService = app.service
    return service


IncidentsDep = Annotated[IncidentService, Depends(get_incidents)]


class ResolveRequest(BaseModel):
    """`POST /api/v1/logs/incidents/{id}/resolve`: what fixed it, for the people (and
    the memory of past incidents) who meet it next."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"resolution": "Raised the pool size to 50."}]},
    )

    resolution: str = Field(min_length=1, max_length=4000)


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()


def incident_view(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "service": incident.service,
        "template_id": incident.template_id,
        "template": incident.template,
        "level": incident.level,
        "status": incident.status,
        "count": incident.count,
        "first_seen": _iso(incident.first_seen),
        "last_seen": _iso(incident.last_seen),
        "samples": [{**s, "at": _iso(s.get("at"))} for s in incident.samples],
        "parameters": incident.parameters,
        "resolution": incident.resolution,
        "resolved_at": _iso(incident.resolved_at),
        "analysis": incident.analysis,
    }


def template_view(template: LogTemplate) -> dict[str, Any]:
    return {
        "template_id": template.template_id,
        "service": template.service,
        "template": template.text,
        "count": template.count,
        "first_seen": _iso(template.first_seen),
        "last_seen": _iso(template.last_seen),
    }


@router.get(
    "/api/v1/logs/incidents",
    summary="Incidents, newest first",
    responses=error_responses(422, 503),
)
async def list_incidents(
    tenant: TenantDep,
    incidents: IncidentsDep,
    service: Annotated[str | None, Query(min_length=1, max_length=253)] = None,
    status: Annotated[Status | None, Query()] = None,
    level: Annotated[IncidentLevel | None, Query()] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="Active at or after this time (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="Opened at or before this time (ISO 8601).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:
    where = IncidentFilter(
        service=service,
        status=status,
        level=level,
        since=_seconds("since", since),
        until=_seconds("until", until),
    )
    page, next_cursor = await incidents.incidents(tenant, where, limit, cursor)
    return {"incidents": [incident_view(i) for i in page], "next_cursor": next_cursor}


@router.get(
    "/api/v1/logs/incidents/{incident_id}",
    summary="One incident",
    responses=error_responses(404, 422, 503),
)
async def get_incident(incident_id: IncidentId, tenant: TenantDep, incidents: IncidentsDep) -> Any:
    return incident_view(await incidents.incident(tenant, str(incident_id)))


@router.post(
    "/api/v1/logs/incidents/{incident_id}/resolve",
    summary="Resolve an incident with what fixed it",
    responses=error_responses(404, 422, 503),
)
async def resolve_incident(
    incident_id: IncidentId, body: ResolveRequest, tenant: TenantDep, incidents: IncidentsDep
) -> Any:
    incident = await incidents.resolve(tenant, str(incident_id), body.resolution)
    return incident_view(incident)


@router.get(
    "/api/v1/logs/templates",
    summary="Log templates per service, most frequent first",
    responses=error_responses(422, 503),
)
async def list_templates(
    tenant: TenantDep,
    incidents: IncidentsDep,
    service: Annotated[str | None, Query(min_length=1, max_length=253)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    found = await incidents.templates(tenant, service, limit)
    return {"templates": [template_view(t) for t in found]}


def _seconds(name: str, value: str | None) -> float | None:
    """An ISO 8601 time as UNIX seconds (UTC when it names no zone); 422 otherwise."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError, OSError):
        raise InvalidInput(
            f"{name} must be an ISO 8601 time, e.g. 2026-12-03T08:00:00Z",
            details=[{"field": name, "message": f"got {value[:60]!r}"}],
        ) from None
