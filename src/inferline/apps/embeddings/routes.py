"""Source S3's embedding routes: /embed, /batch-embed, /similarity, /healthz, /stats.

Responses are built directly with orjson (`FastJSONResponse`): a 384-float vector
through FastAPI's generic encoder and `json.dumps` costs more than the rest of the request.
The hot routes take the `Request` and look the data plane up themselves, which saves
resolving a dependency per request. Routes that embed stop their work when the client
disconnects (`unless_disconnected`).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from inferline.api.auth import public
from inferline.api.deps import PlaneDep, plane_of
from inferline.api.disconnect import unless_disconnected
from inferline.api.errors import error_responses
from inferline.api.fast_json import FastJSONResponse
from inferline.apps.embeddings.schemas import (
    BatchEmbedRequest,
    EmbeddingHealth,
    EmbedRequest,
    SimilarityRequest,
)

router = APIRouter(tags=["embeddings (source S3)"])

EMBEDDING_ERRORS = error_responses(404, 413, 422, 429, 503)


@router.post(
    "/embed",
    summary="Embed one text",
    response_class=FastJSONResponse,
    responses=EMBEDDING_ERRORS,
)
async def embed(body: EmbedRequest, request: Request) -> FastJSONResponse:
    """`{"embedding", "dim", "model", "cached", "truncated"}`; blank text is a 422."""
    work = plane_of(request).embed([body.text], body.model, field="text")
    result = await unless_disconnected(request, work)
    item = result.items[0]
    return FastJSONResponse(
        {
            "embedding": item.embedding,
            "dim": result.dim,
            "model": result.model,
            "cached": item.cached,
            "truncated": item.truncated,
        }
    )


@router.post(
    "/batch-embed",
    summary="Embed 1 to 100 texts",
    response_class=FastJSONResponse,
    responses=EMBEDDING_ERRORS,
)
async def batch_embed(body: BatchEmbedRequest, request: Request) -> FastJSONResponse:
    """Embeddings in input order, with per-text `cached` and `truncated` flags."""
    work = plane_of(request).embed(body.texts, body.model)
    result = await unless_disconnected(request, work)
    return FastJSONResponse(
        {
            "embeddings": [item.embedding for item in result.items],
            "dim": result.dim,
            "model": result.model,
            "cached": [item.cached for item in result.items],
            "truncated": [item.truncated for item in result.items],
        }
    )


@router.post(
    "/similarity",
    summary="Cosine similarity of two texts or two vectors",
    responses=EMBEDDING_ERRORS,
)
async def similarity(
    body: SimilarityRequest, request: Request, plane: PlaneDep
) -> dict[str, float]:
    if body.text1 is not None and body.text2 is not None:
        work = plane.similarity_of_texts(body.text1, body.text2, body.model)
        value = await unless_disconnected(request, work)
    else:
        assert body.vector1 is not None and body.vector2 is not None
        value = plane.similarity_of_vectors(body.vector1, body.vector2)
    return {"similarity": value}


@router.get(
    "/healthz",
    summary="The embedding model is loaded (source S3)",
    responses={
        200: {"model": EmbeddingHealth, "description": "The model is loaded."},
        503: {"model": EmbeddingHealth, "description": "The model is loading or failed."},
        **error_responses(404),
    },
)
@public
async def healthz(plane: PlaneDep) -> JSONResponse:
    served = plane.embedding_model()
    status = "healthy" if served.loaded else ("failed" if served.load_error else "loading")
    return FastJSONResponse(
        {
            "status": status,
            "model": served.name,
            "model_loaded": served.loaded,
            "error": served.load_error,
        },
        status_code=200 if served.loaded else 503,
    )


@router.get("/stats", summary="Embedding statistics (source S3)", responses=error_responses(404))
async def stats(plane: PlaneDep) -> dict[str, object]:
    """Requests, texts, cache hits/misses/hit rate, mean batch size, latency percentiles."""
    usage = plane.embedding_usage()
    counters = usage.stats
    return {
        "model": usage.model,
        "requests": counters.requests,
        "texts_embedded": counters.texts,
        "cache_hits": counters.cache_hits,
        "cache_misses": counters.cache_misses,
        "cache_hit_rate": round(counters.hit_rate, 4),
        "mean_batch_size": usage.mean_batch_size,
        "latency_ms": counters.latency_ms(),
        "uptime_seconds": round(time.time() - counters.started_at, 3),
    }
