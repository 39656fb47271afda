"""Jobs: submit, read, list, cancel, retry, timeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from inferline.api.auth import requires
from inferline.api.deps import PlaneDep, TenantDep
from inferline.api.errors import error_responses
from inferline.api.schemas import JobBatchRequest, JobId, JobRequest
from inferline.application.jobs import SubmitJob
from inferline.domain.jobs import JobStatus, job_view

# Every route reads or writes the job store: 503 while the database is unreachable.
router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=error_responses(422, 503))


def _command(body: JobRequest, tenant: str, idempotency_key: str | None = None) -> SubmitJob:
    return SubmitJob(
        tenant=tenant,
        model=body.model,
        input=body.input,
        idempotency_key=body.idempotency_key or idempotency_key,
        priority=body.priority,
        deadline=body.deadline_seconds(),
        max_attempts=body.max_attempts,
        metadata=body.metadata,
    )


@router.post("", status_code=202, summary="Submit a job", responses=error_responses(404, 413, 429))
async def submit_job(
    body: JobRequest,
    response: Response,
    plane: PlaneDep,
    tenant: TenantDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> dict[str, Any]:
    """Stores the job and answers 202 once it is committed. A repeated idempotency key
    (body field or `Idempotency-Key` header) returns the existing job."""
    job, created = await plane.submit_job(_command(body, tenant, idempotency_key))
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return job_view(job)


@router.post(
    "/batch",
    status_code=202,
    summary="Submit many jobs at once",
    responses=error_responses(404, 413, 429),
)
async def submit_jobs(body: JobBatchRequest, plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    """Validates every job, then stores all of them in one transaction."""
    results = await plane.submit_jobs([_command(j, tenant) for j in body.jobs])
    return {"jobs": [job_view(job, include_input=False) for job, _ in results]}


@router.get("", summary="List jobs, newest first", responses=error_responses(404))
async def list_jobs(
    plane: PlaneDep,
    tenant: TenantDep,
    status: JobStatus | None = None,
    model: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=36)] = None,
) -> dict[str, Any]:
    """Pass `next_cursor` back as `cursor` for the next page."""
    jobs = await plane.list_jobs(tenant, status=status, model=model, limit=limit, cursor=cursor)
    next_cursor = jobs[-1].id if len(jobs) == limit else None
    return {"jobs": [job_view(j, include_input=False) for j in jobs], "next_cursor": next_cursor}


@router.get("/{job_id:uuid}", summary="Get a job", responses=error_responses(404))
async def get_job(job_id: JobId, plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    return job_view(await plane.get_job(tenant, str(job_id)))


@router.delete(
    "/{job_id:uuid}",
    summary="Cancel a job that has not finished",
    responses=error_responses(404, 409),
)
@requires("submit")
async def cancel_job(job_id: JobId, plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    """409 when the job already finished."""
    return job_view(await plane.cancel_job(tenant, str(job_id)))


@router.post(
    "/{job_id:uuid}/retry",
    status_code=202,
    summary="Queue a dead, cancelled or expired job again",
    responses=error_responses(404, 409),
)
async def retry_job(job_id: JobId, plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    return job_view(await plane.retry_job(tenant, str(job_id)))


@router.get(
    "/{job_id:uuid}/events",
    summary="The job's state changes, oldest first",
    responses=error_responses(404),
)
async def job_timeline(job_id: JobId, plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    events = await plane.job_timeline(tenant, str(job_id))
    return {
        "job_id": str(job_id),
        "events": [
            {
                "seq": e.seq,
                "type": e.type,
                "status": e.status.value,
                "at": e.job["updated_at"],
                "error": e.job.get("error"),
                "attempts": e.job.get("attempts"),
            }
            for e in events
        ],
    }
