"""Source S2's use cases: a series becomes a job of a forecasting or smoothing model."""

from __future__ import annotations

from typing import Any, Protocol

from inferline.application.jobs import SubmitJob
from inferline.domain.jobs import Job


class SeriesPlane(Protocol):
    """The slice of the data plane this app calls."""

    async def submit_job(self, command: SubmitJob) -> tuple[Job, bool]: ...

    async def get_job(self, tenant: str, job_id: str) -> Job: ...


async def submit_series(
    plane: SeriesPlane,
    tenant: str,
    model: str,
    data: list[float],
    parameters: dict[str, Any],
    metadata: dict[str, Any],
) -> Job:
    """Queue `data` as the model's `series`, with `parameters` as its other inputs."""
    command = SubmitJob(
        tenant=tenant, model=model, input={"series": data, **parameters}, metadata=metadata
    )
    job, _ = await plane.submit_job(command)
    return job


async def series_job(plane: SeriesPlane, tenant: str, job_id: str) -> Job:
    """A submitted series' job (NotFound when the tenant has none by that id)."""
    return await plane.get_job(tenant, job_id)
