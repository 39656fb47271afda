"""Source S2's routes, as thin aliases of the job use cases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from inferline.api.deps import get_container, get_tenant
from inferline.api.errors import error_responses
from inferline.api.schemas import JobId, S2SubmitRequest
from inferline.application.jobs import SubmitJob
from inferline.bootstrap import Container
from inferline.domain.jobs import job_view

router = APIRouter(
    prefix="/api/v1/inference", tags=["source S2"], responses=error_responses(404, 422, 503)
)

ContainerDep = Annotated[Container, Depends(get_container)]
TenantDep = Annotated[str, Depends(get_tenant)]


@router.post(
    "/submit",
    status_code=202,
    summary="Submit a series (source S2)",
    responses=error_responses(413, 429),
)
async def submit(
    body: S2SubmitRequest, container: ContainerDep, tenant: TenantDep
) -> dict[str, Any]:
    """`data` becomes the model's `series`; `parameters` adds other inputs (window, horizon)."""
    command = SubmitJob(
        tenant=tenant,
        model=body.model_name,
        input={"series": body.data, **body.parameters},
        metadata=body.metadata,
    )
    job, _ = await container.jobs.submit(command)
    return {"job_id": job.id, "status": job.status.value}


@router.get("/{job_id:uuid}", summary="A submitted job's status and result (source S2)")
async def result(job_id: JobId, container: ContainerDep, tenant: TenantDep) -> dict[str, Any]:
    view = job_view(await container.jobs.get(tenant, str(job_id)), include_input=False)
    return {
        "job_id": view["id"],
        "status": view["status"],
        "model_name": view["model"],
        "result": view["result"],
        "error": view["error"],
        "created_at": view["created_at"],
        "completed_at": view["finished_at"],
    }
