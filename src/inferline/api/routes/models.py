"""Models: what is served, and synchronous inference."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from inferline.api.deps import PlaneDep
from inferline.api.disconnect import unless_disconnected
from inferline.api.errors import error_responses
from inferline.api.presenters import model_view
from inferline.api.schemas import InferRequest

router = APIRouter(prefix="/api/v1/models", tags=["models"])

ModelName = Annotated[
    str, Path(description="A model's name or alias.", examples=["moving-average"])
]


@router.get("", summary="List served models")
async def list_models(plane: PlaneDep) -> dict[str, Any]:
    return {"models": [model_view(m, plane.queue_counts(m.name)) for m in plane.models()]}


@router.get("/{name}", summary="Describe one model", responses=error_responses(404))
async def get_model(name: ModelName, plane: PlaneDep) -> dict[str, Any]:
    served = plane.model(name)
    return model_view(served, plane.queue_counts(served.name))


@router.post(
    "/{name}/infer",
    summary="Run inference now",
    responses=error_responses(404, 413, 422, 429, 500, 503),
)
async def infer(
    name: ModelName, body: InferRequest, request: Request, plane: PlaneDep
) -> dict[str, Any]:
    """`{"input": {...}}` gives `{"output"}`; `{"inputs": [...]}` gives `{"outputs"}`.
    A client that disconnects before the answer takes its waiting inputs out of the batch."""
    served = plane.model(name)
    header = {"model": served.name, "model_version": served.model_class.version}
    if body.input is not None:
        work = plane.infer(name, [body.input], field="input")
        return {**header, "output": (await unless_disconnected(request, work))[0]}
    assert body.inputs is not None
    work = plane.infer(name, body.inputs)
    return {**header, "outputs": await unless_disconnected(request, work)}
