"""Source S2's routes: submit a series, read its job's status and result."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from inferline.api.deps import PlaneDep, TenantDep
from inferline.api.errors import error_responses
from inferline.api.schemas import JobId
from inferline.apps.timeseries.schemas import S2SubmitRequest
from inferline.apps.timeseries.use_cases import series_job, submit_series
from inferline.domain.jobs import job_view

router = APIRouter(
    prefix="/api/v1/inference", tags=["source S2"], responses=error_responses(404, 422, 503)
)


@router.post(
    "/submit",
    status_code=202,
    summary="Submit a series (source S2)",
    responses=error_responses(413, 429),
)
async def submit(body: S2SubmitRequest, plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    """`data` becomes the model's `series`; `parameters` adds other inputs (window, horizon)."""
    job = await submit_series(
        plane, tenant, body.model_name, body.data, body.parameters, body.metadata
    )
    return {"job_id": job.id, "status": job.status.value}


@router.get("/{job_id:uuid}", summary="A submitted job's status and result (source S2)")
async def result(job_id: JobId, plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    view = job_view(await series_job(plane, tenant, str(job_id)), include_input=False)
    return {
        "job_id": view["id"],
        "status": view["status"],
        "model_name": view["model"],
        "result": view["result"],
        "error": view["error"],
        "created_at": view["created_at"],
        "completed_at": view["finished_at"],
    }
