"""Vector collections: create, upsert items, search, delete items.

A search stops when its client disconnects; an upsert, a write, always completes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from inferline.api.deps import PlaneDep, TenantDep
from inferline.api.disconnect import unless_disconnected
from inferline.api.embedding_schemas import CollectionRequest, SearchRequest, UpsertRequest
from inferline.api.errors import error_responses
from inferline.application.collections import NewItem
from inferline.ports.vectors import CollectionSpec

router = APIRouter(prefix="/api/v1/collections", tags=["collections"])

NameParam = Annotated[str, Path(min_length=1, max_length=64, examples=["demo"])]


def _view(spec: CollectionSpec, count: int | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {"name": spec.name, "dimension": spec.dimension, "metric": spec.metric}
    if count is not None:
        view["count"] = count
    return view


@router.get("", summary="List collections")
async def list_collections(plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    return {"collections": [_view(spec) for spec in await plane.list_collections(tenant)]}


@router.put(
    "/{name}",
    summary="Create a collection (idempotent)",
    responses={
        201: {"description": "Created."},
        **error_responses(404, 409, 413, 422, 429, 503),
    },
)
async def create_collection(
    name: NameParam,
    body: CollectionRequest,
    response: Response,
    plane: PlaneDep,
    tenant: TenantDep,
) -> dict[str, Any]:
    """201 when created, 200 when an identical one exists, 409 when it differs."""
    spec, created = await plane.create_collection(tenant, name, body.dimension, body.metric)
    response.status_code = 201 if created else 200
    return _view(spec)


@router.get("/{name}", summary="Describe a collection", responses=error_responses(404, 422))
async def get_collection(name: NameParam, plane: PlaneDep, tenant: TenantDep) -> dict[str, Any]:
    spec, count = await plane.describe_collection(tenant, name)
    return _view(spec, count)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a collection and its items",
    responses=error_responses(404, 422),
)
async def drop_collection(name: NameParam, plane: PlaneDep, tenant: TenantDep) -> Response:
    await plane.drop_collection(tenant, name)
    return Response(status_code=204)


@router.post(
    "/{name}/items",
    summary="Insert or replace items (texts are embedded)",
    responses=error_responses(404, 409, 413, 422, 429, 503),
)
async def upsert_items(
    name: NameParam, body: UpsertRequest, plane: PlaneDep, tenant: TenantDep
) -> dict[str, Any]:
    items = [NewItem(i.id, i.text, i.vector, i.metadata) for i in body.items]
    upserted = await plane.upsert_items(tenant, name, items)
    return {"upserted": upserted}


@router.post(
    "/{name}/search",
    summary="Nearest items to a text or a vector",
    responses=error_responses(404, 413, 422, 429, 503),
)
async def search(
    name: NameParam, body: SearchRequest, request: Request, plane: PlaneDep, tenant: TenantDep
) -> dict[str, Any]:
    """Scores: cosine similarity or dot product (higher first), or L2 distance (lower first)."""
    work = plane.search(
        tenant, name, text=body.text, vector=body.vector, k=body.k, where=body.filter
    )
    hits = await unless_disconnected(request, work)
    return {
        "ids": [hit.id for hit in hits],
        "scores": [hit.score for hit in hits],
        "metadata": [hit.metadata for hit in hits],
        "results": [
            {"id": h.id, "score": h.score, "metadata": h.metadata, "text": h.text} for h in hits
        ],
    }


@router.delete(
    "/{name}/items/{item_id}",
    status_code=204,
    summary="Delete one item",
    responses=error_responses(404, 422),
)
async def delete_item(
    name: NameParam,
    item_id: Annotated[str, Path(min_length=1, max_length=256)],
    plane: PlaneDep,
    tenant: TenantDep,
) -> Response:
    await plane.delete_item(tenant, name, item_id)
    return Response(status_code=204)
