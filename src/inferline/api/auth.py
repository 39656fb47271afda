"""Authentication at the HTTP edge: one dependency that `create_app` puts on every
router, so that a route is protected unless it says it is public.

The credential comes from `Authorization: Bearer <key or JWT>` (the OpenAI client's
way) or `X-API-Key: <key>`; WebSockets may also pass `?api_key=` (browsers cannot set
headers on a WebSocket). The scope a route needs follows from its method (GET and
WebSockets `read`; POST, PUT and PATCH `submit`; DELETE `admin`) unless the route
declares another with `@requires("...")`; `@public` routes need nothing.

With authentication off (`app.state.auth` is None) every caller is the default tenant
with every scope.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.requests import HTTPConnection
from fastapi.routing import APIRoute
from starlette.exceptions import WebSocketException
from starlette.status import WS_1008_POLICY_VIOLATION

from inferline.application.auth import MAX_CONCURRENT_JOBS, SCOPES, Authenticator, Principal
from inferline.domain.errors import Forbidden, InferlineError, Unauthenticated
from inferline.domain.jobs import DEFAULT_TENANT

F = TypeVar("F", bound=Callable[..., Any])

ANONYMOUS = Principal(tenant=DEFAULT_TENANT, scopes=frozenset(SCOPES), identity="anonymous")
_SCOPE_BY_METHOD = {"GET": "read", "HEAD": "read", "POST": "submit", "PUT": "submit"}
_SCOPE_BY_METHOD |= {"PATCH": "submit", "DELETE": "admin"}
QUERY_PARAMETER = "api_key"


def public(endpoint: F) -> F:
    """Mark a route as open to anyone, also when authentication is required."""
    endpoint.__inferline_scope__ = None  # type: ignore[attr-defined]
    return endpoint


def requires(scope: str) -> Callable[[F], F]:
    """Mark a route as needing `scope` instead of its method's."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def mark(endpoint: F) -> F:
        endpoint.__inferline_scope__ = scope  # type: ignore[attr-defined]
        return endpoint

    return mark


def required_scope(connection: HTTPConnection) -> str | None:
    """The scope the matched route needs (None: public)."""
    route = connection.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    if endpoint is not None and hasattr(endpoint, "__inferline_scope__"):
        scope: str | None = endpoint.__inferline_scope__
        return scope
    if connection.scope["type"] == "websocket":
        return "read"
    return _SCOPE_BY_METHOD.get(connection.scope.get("method", "GET"), "admin")


def credential_of(connection: HTTPConnection) -> str | None:
    """The bearer credential of a request or WebSocket handshake, if any."""
    header = connection.headers.get("authorization")
    if header:
        kind, _, value = header.partition(" ")
        if kind.lower() == "bearer" and value.strip():
            return value.strip()
        return header.strip()  # not a bearer credential: refused as invalid below
    key = connection.headers.get("x-api-key")
    if key:
        return key.strip()
    if connection.scope["type"] == "websocket":
        return connection.query_params.get(QUERY_PARAMETER) or None
    return None


async def authenticate(connection: HTTPConnection) -> None:
    """The dependency on every router: who is calling, whether they may, within limits.
    Puts the `Principal` on `connection.state.principal`."""
    auth: Authenticator | None = getattr(connection.app.state, "auth", None)
    scope = required_scope(connection)
    if auth is None:
        connection.state.principal = ANONYMOUS
        return
    if scope is None:
        return
    try:
        principal = await auth.authenticate(credential_of(connection))
        if not principal.allows(scope):
            raise Forbidden(
                f"this key lacks the {scope!r} scope (it has: "
                f"{', '.join(sorted(principal.scopes)) or 'none'})",
                details={"required_scope": scope},
            )
        await auth.admit(principal)
    except InferlineError as exc:
        if isinstance(connection, WebSocket):
            # A refused handshake: the client sees HTTP 403 (no body reaches browsers).
            raise WebSocketException(WS_1008_POLICY_VIOLATION, exc.message) from None
        raise
    connection.state.principal = principal
    MAX_CONCURRENT_JOBS.set(principal.max_concurrent_jobs)


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`inferline keys create`) or, where configured, a JWT.",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def document_security(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Declare the credentials in the OpenAPI schema, so `/docs` offers "Authorize" and
    generated clients send a key: every operation of `routers` needs one, but the
    public routes."""
    build = app.openapi
    public_paths = {
        (method, route.path)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        and getattr(route.endpoint, "__inferline_scope__", "") is None
        for method in route.methods or ()
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if (method.upper(), path) in public_paths:
                    operation["security"] = []
                else:
                    operation["security"] = [{"bearer": []}, {"apiKey": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def principal_of(connection: HTTPConnection) -> Principal:
    """The caller (`ANONYMOUS`, the default tenant, when authentication is off)."""
    principal: Principal | None = getattr(connection.state, "principal", None)
    if principal is not None:
        return principal
    if getattr(connection.app.state, "auth", None) is not None:
        # a public route asking who calls: nobody it could name
        raise Unauthenticated("an API key is required")
    return ANONYMOUS
