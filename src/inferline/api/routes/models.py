"""Models: what is served, and synchronous inference."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from inferline.api.deps import get_container
from inferline.api.disconnect import unless_disconnected
from inferline.api.schemas import InferRequest
from inferline.bootstrap import Container
from inferline.domain.errors import InvalidInput
from inferline.runtime.serving import ServedModel

router = APIRouter(prefix="/api/v1/models", tags=["models"])

ContainerDep = Annotated[Container, Depends(get_container)]


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


@router.get("/{name}", summary="Describe one model")
async def get_model(name: str, container: ContainerDep) -> dict[str, Any]:
    return model_info(container.models.get(name), container)


@router.post("/{name}/infer", summary="Run inference now")
async def infer(
    name: str, body: InferRequest, request: Request, container: ContainerDep
) -> dict[str, Any]:
    """`{"input": {...}}` gives `{"output"}`; `{"inputs": [...]}` gives `{"outputs"}`.
    A client that disconnects before the answer takes its waiting inputs out of the batch."""
    served = container.models.get(name)
    if (body.input is None) == (body.inputs is None):
        raise InvalidInput(
            "give exactly one of `input` or `inputs`",
            details=[{"field": "input", "message": "exactly one of input/inputs is required"}],
        )
    header = {"model": served.name, "model_version": served.model_class.version}
    if body.input is not None:
        work = container.inference.infer(name, [body.input], field="input")
        return {**header, "output": (await unless_disconnected(request, work))[0]}
    assert body.inputs is not None
    work = container.inference.infer(name, body.inputs)
    return {**header, "outputs": await unless_disconnected(request, work)}
