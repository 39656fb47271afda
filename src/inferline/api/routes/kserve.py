"""The Open Inference Protocol (KServe v2), as Triton, MLServer and KServe speak it.

`/v2` (server metadata), `/v2/health/live`, `/v2/health/ready`,
`/v2/models/{name}[/versions/{version}]` (model metadata), `.../ready` and
`.../infer`. Every model whose schemas have a tensor form (`api/tensors.py`) is
served; an inference request is cut into one input per batch row and goes through
the model's micro-batcher like any other synchronous inference. Errors are the
protocol's `{"error": "<message>"}` with the status our error table gives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Annotated, Any, ParamSpec

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from inferline import __version__
from inferline.api.auth import public
from inferline.api.deps import PlaneDep
from inferline.api.disconnect import unless_disconnected
from inferline.api.errors import STATUS_BY_KIND
from inferline.api.tensors import (
    BINARY_HEADER,
    TensorForm,
    decode_request,
    encode_response,
    split_body,
    tensor_form,
)
from inferline.application.data_plane import DataPlane
from inferline.domain.errors import ErrorKind, InferlineError, NotFound
from inferline.ports.serving import ServedModel

router = APIRouter(prefix="/v2", tags=["Open Inference Protocol (KServe v2)"])


class ProtocolError(BaseModel):
    """The protocol's error body."""

    error: str


_MEANING = {
    400: "A bad request: names, datatypes, shapes or values that do not fit the model.",
    404: "No such model or version, or a model without a tensor form.",
    429: "The model's queue is full: come back after `Retry-After` seconds.",
    500: "The model failed on this input.",
    503: "Not ready yet (the model is loading, or a dependency is down).",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ProtocolError, "description": _MEANING[s]} for s in statuses}


ModelName = Annotated[str, Path(description="A model's name or alias.", examples=["minilm"])]
ModelVersion = Annotated[str, Path(description="The model's version.", examples=["1"])]
P = ParamSpec("P")


def _protocol_errors(
    route: Callable[P, Awaitable[Response | dict[str, Any]]],
) -> Callable[P, Awaitable[Response | dict[str, Any]]]:
    """Our errors in the protocol's shape: `{"error": exc.message}`."""

    @wraps(route)
    async def answer(*args: P.args, **kwargs: P.kwargs) -> Response | dict[str, Any]:
        try:
            return await route(*args, **kwargs)
        except InferlineError as exc:
            # The protocol answers a bad request with 400 (our own API says 422).
            status = 400 if exc.kind is ErrorKind.INVALID else STATUS_BY_KIND[exc.kind]
            headers = {}
            if exc.retry_after is not None:
                headers["Retry-After"] = str(max(1, round(exc.retry_after)))
            return JSONResponse({"error": exc.message}, status_code=status, headers=headers)

    return answer


def _served(plane: DataPlane, name: str, version: str | None) -> tuple[ServedModel, TensorForm]:
    served = plane.model(name)
    if version is not None and version != served.model_class.version:
        raise NotFound(
            f"model {served.name!r} has no version {version!r}; "
            f"it serves {served.model_class.version!r}"
        )
    form = tensor_form(served.model_class.input_schema, served.model_class.output_schema)
    if form is None:
        raise NotFound(
            f"model {served.name!r} has no tensor form (its input is not a set of tensors): "
            "use its own API"
        )
    return served, form


@router.get("", summary="Server metadata")
async def server_metadata() -> dict[str, Any]:
    return {"name": "inferline", "version": __version__, "extensions": ["binary_tensor_data"]}


@router.get("/health/live", summary="The server is alive")
@public
async def server_live() -> dict[str, Any]:
    return {"live": True}


@router.get("/health/ready", summary="The server is ready for inference", responses=_errors(503))
@public
async def server_ready(plane: PlaneDep) -> JSONResponse:
    ready = plane.readiness().ready
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.get("/models/{name}", summary="Model metadata", responses=_errors(404))
@_protocol_errors
async def model_metadata(name: ModelName, plane: PlaneDep) -> dict[str, Any]:
    return _metadata(*_served(plane, name, None))


@router.get(
    "/models/{name}/versions/{version}",
    summary="Model metadata (a version)",
    responses=_errors(404),
)
@_protocol_errors
async def model_version_metadata(
    name: ModelName, version: ModelVersion, plane: PlaneDep
) -> dict[str, Any]:
    return _metadata(*_served(plane, name, version))


@router.get("/models/{name}/ready", summary="The model is ready", responses=_errors(404, 503))
@_protocol_errors
async def model_ready(name: ModelName, plane: PlaneDep) -> Response:
    return _readiness(_served(plane, name, None)[0])


@router.get(
    "/models/{name}/versions/{version}/ready",
    summary="The model is ready (a version)",
    responses=_errors(404, 503),
)
@_protocol_errors
async def model_version_ready(name: ModelName, version: ModelVersion, plane: PlaneDep) -> Response:
    return _readiness(_served(plane, name, version)[0])


@router.post(
    "/models/{name}/infer",
    summary="Inference with named tensors",
    responses=_errors(400, 404, 429, 500, 503),
)
@_protocol_errors
async def infer(name: ModelName, request: Request, plane: PlaneDep) -> Response:
    return await _infer(plane, request, name, None)


@router.post(
    "/models/{name}/versions/{version}/infer",
    summary="Inference (a version)",
    responses=_errors(400, 404, 429, 500, 503),
)
@_protocol_errors
async def infer_version(
    name: ModelName, version: ModelVersion, request: Request, plane: PlaneDep
) -> Response:
    return await _infer(plane, request, name, version)


def _metadata(served: ServedModel, form: TensorForm) -> dict[str, Any]:
    return {
        "name": served.name,
        "versions": [served.model_class.version],
        "platform": "inferline",
        "inputs": [f.metadata() for f in form.inputs],
        "outputs": [f.metadata() for f in form.outputs],
    }


def _readiness(served: ServedModel) -> Response:
    if served.loaded:
        return JSONResponse({"name": served.name, "ready": True})
    reason = served.load_error or "loading"
    return JSONResponse({"error": f"model {served.name!r} is not ready: {reason}"}, status_code=503)


async def _infer(plane: DataPlane, request: Request, name: str, version: str | None) -> Response:
    served, form = _served(plane, name, version)
    header, binary = split_body(await request.body(), request.headers.get(BINARY_HEADER))
    decoded = decode_request(form, header, binary)
    work = plane.infer(served.name, decoded.items)
    results = await unless_disconnected(request, work)
    body, header_length = encode_response(
        form,
        decoded,
        results,
        model_name=served.name,
        model_version=served.model_class.version,
    )
    if header_length is None:
        return Response(body, media_type="application/json")
    return Response(
        body,
        media_type="application/octet-stream",
        headers={BINARY_HEADER: str(header_length)},
    )
