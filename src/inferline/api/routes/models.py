"""Models: what is served, and synchronous inference."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from inferline.api.deps import get_container
from inferline.api.disconnect import unless_disconnected
from inferline.api.errors import error_responses
from inferline.api.schemas import InferRequest
from inferline.bootstrap import Container
from inferline.runtime.serving import ServedModel

router = APIRouter(prefix="/api/v1/models", tags=["models"])

ContainerDep = Annotated[Container, Depends(get_container)]
ModelName = Annotated[
    str, Path(description="A model's name or alias.", examples=["moving-average"])
]


def model_info(served: ServedModel, container: Container) -> dict[str, Any]:
    """Name, version, schemas, batching and state of one model."""
    cls = served.model_class
    return {
        "name": cls.name,
        "version": cls.version,
        "description": cls.description,
        "aliases": list(cls.aliases),
        "loaded": served.loaded,
        "load_error": served.load_error,
        "load_seconds": served.load_seconds,
        "input_schema": cls.input_schema.model_json_schema(),
        "output_schema": cls.output_schema.model_json_schema(),
        "batching": asdict(served.batching),
        "queue": {
            "waiting": container.depths.waiting.get(cls.name, 0),
            "running": container.depths.running.get(cls.name, 0),
        },
    }


@router.get("", summary="List served models")
async def list_models(container: ContainerDep) -> dict[str, Any]:
    return {"models": [model_info(m, container) for m in container.models.models.values()]}


@router.get("/{name}", summary="Describe one model", responses=error_responses(404))
async def get_model(name: ModelName, container: ContainerDep) -> dict[str, Any]:
    return model_info(container.models.get(name), container)


@router.post(
    "/{name}/infer",
    summary="Run inference now",
    responses=error_responses(404, 413, 422, 429, 500, 503),
)
async def infer(
    name: ModelName, body: InferRequest, request: Request, container: ContainerDep
) -> dict[str, Any]:
    """`{"input": {...}}` gives `{"output"}`; `{"inputs": [...]}` gives `{"outputs"}`.
    A client that disconnects before the answer takes its waiting inputs out of the batch."""
    served = container.models.get(name)
    header = {"model": served.name, "model_version": served.model_class.version}
    if body.input is not None:
        work = container.inference.infer(name, [body.input], field="input")
        return {**header, "output": (await unless_disconnected(request, work))[0]}
    assert body.inputs is not None
    work = container.inference.infer(name, body.inputs)
    return {**header, "outputs": await unless_disconnected(request, work)}
