"""The OpenAI-compatible embeddings API: `POST /v1/embeddings` and `GET /v1/models`
(embedding and chat models; chat completions are in `chat.py`).

The official `openai` client asks for base64 unless told otherwise and decodes
little-endian float32, so both encodings are served. `dimensions` keeps the
first values and normalises again (MiniLM is not trained for that: quality drops).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from fastapi import APIRouter, Request

from inferline.api.deps import PlaneDep, plane_of
from inferline.api.disconnect import unless_disconnected
from inferline.api.embedding_schemas import OpenAIEmbeddingsRequest
from inferline.api.errors import error_responses
from inferline.api.fast_json import FastJSONResponse
from inferline.domain.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


@router.post(
    "/embeddings",
    summary="Create embeddings (OpenAI API)",
    response_class=FastJSONResponse,
    responses=error_responses(404, 413, 422, 429, 503),
)
async def create_embeddings(body: OpenAIEmbeddingsRequest, request: Request) -> FastJSONResponse:
    plane = plane_of(request)
    model_class = plane.embedding_model(body.model).model_class
    dimension = getattr(model_class, "dimension", 0)
    if body.dimensions is not None and body.dimensions > dimension:
        raise InvalidInput(
            f"dimensions must be at most {dimension} for model {model_class.name}",
            details=[{"field": "dimensions", "message": f"at most {dimension}"}],
        )
    result = await unless_disconnected(
        request, plane.embed(body.texts(), body.model, field="input")
    )
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _encode(item.embedding, body.dimensions, body.encoding_format),
        }
        for index, item in enumerate(result.items)
    ]
    tokens = sum(item.tokens for item in result.items)
    return FastJSONResponse(
        {
            "object": "list",
            "data": data,
            "model": result.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _encode(vector: np.ndarray, dimensions: int | None, encoding: str) -> Any:
    array = vector
    if dimensions is not None and dimensions < array.size:
        array = array[:dimensions]
        array = array / max(float(np.linalg.norm(array)), 1e-12)
    if encoding == "base64":
        return base64.b64encode(array.astype("<f4").tobytes()).decode("ascii")
    return array


@router.get("/models", summary="List the embedding and chat models (OpenAI API)")
async def list_models(plane: PlaneDep) -> dict[str, Any]:
    created = int(plane.started_at)
    data = []
    for served in [*plane.embedding_models(), *plane.chat_models()]:
        for model_id in (served.name, *served.model_class.aliases):
            data.append(
                {"id": model_id, "object": "model", "created": created, "owned_by": "inferline"}
            )
    return {"object": "list", "data": data}
