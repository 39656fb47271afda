"""API keys over HTTP (scope `admin`): a tenant's admin makes, lists and revokes its
own tenant's keys. `inferline keys` does the same from the shell, for any tenant."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from inferline.api.auth import requires
from inferline.api.deps import TenantDep
from inferline.api.errors import error_responses
from inferline.api.presenters import key_view
from inferline.application.auth import KeyService, expiry
from inferline.domain.errors import Unavailable

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=error_responses(401, 403))

KeyId = Annotated[str, Path(min_length=1, max_length=36)]


class KeyRequest(BaseModel):
    """`POST /api/v1/keys`: a key of the caller's tenant."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"scopes": ["read", "submit"], "name": "batch jobs"}]},
    )

    scopes: list[Literal["read", "submit", "admin"]] = Field(min_length=1, max_length=3)
    name: str | None = Field(default=None, max_length=200)
    expires: str | None = Field(
        default=None, max_length=64, description="A duration (`30d`, `12h`) or an ISO date."
    )
    rate_limit: str | None = Field(default=None, max_length=64, examples=["10/second"])
    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=1_000_000)


def _keys(request: Request) -> KeyService:
    keys: KeyService | None = request.app.state.keys
    if keys is None:
        raise Unavailable("API keys are not served by this process")
    return keys


@router.get("", summary="The tenant's API keys")
@requires("admin")
async def list_keys(request: Request, tenant: TenantDep) -> dict[str, Any]:
    return {"keys": [key_view(k) for k in await _keys(request).list(tenant)]}


@router.post(
    "",
    status_code=201,
    summary="Make an API key (its secret is in this answer only)",
    responses=error_responses(413, 422),
)
@requires("admin")
async def create_key(body: KeyRequest, request: Request, tenant: TenantDep) -> dict[str, Any]:
    made = await _keys(request).create(
        tenant,
        body.scopes,
        name=body.name,
        expires_at=expiry(body.expires) if body.expires else None,
        rate_limit=body.rate_limit,
        max_concurrent_jobs=body.max_concurrent_jobs,
    )
    return {**key_view(made.stored), "key": made.secret}


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke an API key (idempotent)",
    responses=error_responses(404, 422),
)
@requires("admin")
async def revoke_key(key_id: KeyId, request: Request, tenant: TenantDep) -> Response:
    await _keys(request).revoke(key_id, tenant)
    return Response(status_code=204)
