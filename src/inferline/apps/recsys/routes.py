"""The recommendation app's HTTP API (source S3): catalog, behaviour events,
conversations, recommendations. Thin: validate, call the service, present."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from inferline.api.deps import TenantDep
from inferline.api.errors import error_responses
from inferline.apps.recsys.schemas import (
    ID_PATTERN,
    ConversationBody,
    EventBody,
    MessageBody,
    ProductsBody,
)
from inferline.apps.recsys.service import (
    EventIn,
    ProductIn,
    RecsysService,
    message_view,
    product_view,
)
from inferline.domain.errors import InvalidInput, PayloadTooLarge, Unavailable

router = APIRouter(tags=["recommendations (source S3)"])


async def get_recsys(request: Request) -> RecsysService:
    """Dependency: the recommendation service of this process."""
    app = getattr(request.app.state, "recsys", None)
    if app is None:
        raise Unavailable("the recommendation app is not running in this process", retry_after=1)
    service: RecsysService = app.service
    return service


RecsysDep = Annotated[RecsysService, Depends(get_recsys)]
ProductId = Annotated[str, Path(pattern=ID_PATTERN, description="The product's id.")]
UserId = Annotated[str, Path(pattern=ID_PATTERN, description="The user's id.")]
ConversationId = Annotated[UUID, Path(description="The conversation's id.")]
K = Annotated[int, Query(ge=1, le=100, description="How many items.")]
Category = Annotated[str | None, Query(min_length=1, max_length=100)]


@router.post(
    "/api/v1/products",
    summary="Insert or replace up to 1,000 products; changed texts are embedded",
    responses=error_responses(413, 422, 503),
)
async def upsert_products(body: ProductsBody, tenant: TenantDep, recsys: RecsysDep) -> Any:
    limit = recsys.settings.max_products_per_request
    if len(body.products) > limit:
        raise PayloadTooLarge(
            f"{len(body.products)} products in one request; at most {limit}",
            details=[{"field": "products", "message": f"at most {limit} items"}],
        )
    items = [
        ProductIn(p.id, p.name, p.description, p.category, p.price, tuple(p.tags))
        for p in body.products
    ]
    return await recsys.upsert_products(tenant, items)


@router.get(
    "/api/v1/products/{product_id}",
    summary="One product",
    responses=error_responses(404, 422),
)
async def get_product(product_id: ProductId, tenant: TenantDep, recsys: RecsysDep) -> Any:
    return product_view(await recsys.product(tenant, product_id))


@router.get(
    "/api/v1/products/{product_id}/similar",
    summary="The products nearest to this one (cached in rec:similar:{productId})",
    responses=error_responses(404, 422),
)
async def similar_products(
    product_id: ProductId, tenant: TenantDep, recsys: RecsysDep, k: K = 10
) -> Any:
    return await recsys.similar(tenant, product_id, k)


@router.post(
    "/api/v1/events",
    summary="Record behaviour (one event or a list); preferences update in the same transaction",
    responses=error_responses(404, 413, 422),
)
async def record_events(
    tenant: TenantDep,
    recsys: RecsysDep,
    body: Annotated[EventBody | list[EventBody], Body()],
) -> Any:
    events = body if isinstance(body, list) else [body]
    limit = recsys.settings.max_events_per_request
    if not events:
        raise InvalidInput(
            "give at least one event", details=[{"field": "body", "message": "empty list"}]
        )
    if len(events) > limit:
        raise PayloadTooLarge(
            f"{len(events)} events in one request; at most {limit}",
            details=[{"field": "body", "message": f"at most {limit} events"}],
        )
    return await recsys.record_events(
        tenant, [EventIn(e.user_id, e.type, e.product_id, e.at_seconds()) for e in events]
    )


@router.get(
    "/api/v1/users/{user_id}/recommendations",
    summary="Hybrid recommendations: content 30 %, collaborative 30 %, LLM 40 %",
    responses=error_responses(422),
)
async def recommendations(
    user_id: UserId,
    tenant: TenantDep,
    recsys: RecsysDep,
    k: K = 10,
    category: Category = None,
    llm: Annotated[bool, Query(description="Ask the LLM to score the top candidates.")] = True,
) -> Any:
    return await recsys.recommend(tenant, user_id, k, category, use_llm=llm)


@router.get(
    "/api/v1/recommendations/trending",
    summary="The most interacted-with products of the last window (rec:trending)",
    responses=error_responses(422),
)
async def trending(tenant: TenantDep, recsys: RecsysDep, k: K = 10) -> Any:
    return await recsys.trending(tenant, k)


@router.get(
    "/api/v1/recommendations/popular",
    summary="The most popular products, overall or in a category",
    responses=error_responses(422),
)
async def popular(
    tenant: TenantDep, recsys: RecsysDep, k: K = 10, category: Category = None
) -> Any:
    return await recsys.popular(tenant, category, k)


@router.post(
    "/api/v1/conversations",
    status_code=201,
    summary="Start a conversation with the shopping assistant",
    responses=error_responses(422),
)
async def create_conversation(body: ConversationBody, tenant: TenantDep, recsys: RecsysDep) -> Any:
    conversation = await recsys.create_conversation(tenant, body.user_id)
    return {
        "id": conversation.id,
        "user_id": conversation.user_id,
        "status": conversation.status,
        "created_at": conversation.created_at,
    }


@router.get(
    "/api/v1/conversations/search",
    summary="Semantic search over a user's messages",
    responses=error_responses(422),
)
async def search_messages(
    tenant: TenantDep,
    recsys: RecsysDep,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    user_id: Annotated[str, Query(pattern=ID_PATTERN)],
    k: K = 10,
) -> Any:
    return {"results": await recsys.search_messages(tenant, user_id, q, k)}


@router.post(
    "/api/v1/conversations/{conversation_id}/messages",
    status_code=201,
    summary="Send a message; the assistant answers with recommended products",
    responses=error_responses(404, 422),
)
async def post_message(
    conversation_id: ConversationId,
    body: MessageBody,
    tenant: TenantDep,
    recsys: RecsysDep,
    k: Annotated[int, Query(ge=1, le=20)] = 5,
) -> Any:
    return await recsys.post_message(tenant, str(conversation_id), body.content, k=k)


@router.get(
    "/api/v1/conversations/{conversation_id}/messages",
    summary="A conversation's messages, oldest first (page back with `before`)",
    responses=error_responses(404, 422),
)
async def list_messages(
    conversation_id: ConversationId,
    tenant: TenantDep,
    recsys: RecsysDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, description="`seq` of a message")] = None,
) -> Any:
    found = await recsys.messages(tenant, str(conversation_id), limit, before)
    return {
        "messages": [{**message_view(m), "seq": m.seq} for m in found],
        "next_before": found[0].seq if len(found) == limit else None,
    }
