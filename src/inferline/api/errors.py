"""The one table from error kinds to HTTP statuses, and the JSON error body."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from inferline.api.schemas import ErrorBody
from inferline.core.validation import field_problems, problems_summary
from inferline.domain.errors import ErrorKind, InferlineError

log = logging.getLogger(__name__)

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.OVERLOADED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.MODEL_ERROR: 500,
    ErrorKind.DEADLINE_EXCEEDED: 504,
    ErrorKind.INTERNAL: 500,
}
_CODE_BY_HTTP_STATUS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}

_REQUEST_PARTS = frozenset({"body", "query", "path"})  # FastAPI's location prefixes

_MEANING = {
    400: "Bad request: a body that cannot be parsed (e.g. broken multipart data).",
    401: "No valid API key or token: send `Authorization: Bearer <key>` or `X-API-Key`.",
    403: "The key's scopes do not allow this (read, submit or admin).",
    404: "Not found: an unknown model, job, collection or item.",
    409: "Conflict with the current state (e.g. the job already finished).",
    413: "The request body (or an uploaded document, or one of its pages) is over its "
    "size limit: INFERLINE_MAX_BODY_BYTES, INFERLINE_OCR_MAX_FILE_BYTES, _MAX_PIXELS.",
    422: "Invalid request: `details` names each field at fault.",
    429: "Overloaded: come back after `Retry-After` seconds.",
    500: "The model failed on this input, or a bug (see the server log).",
    503: "Not available yet (the database or the model): retry after `Retry-After`.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """`{"error": {"code", "message", "details"}}`."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the JSON error body."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        declared[status] = {"model": ErrorBody, "description": _MEANING[status]}
        if status in (429, 503):
            declared[status]["headers"] = _RETRY_AFTER
    return declared


def error_response(
    status: int, code: str, message: str, details: Any = None, retry_after: float | None = None
) -> JSONResponse:
    """A JSON error response, with Retry-After when the client should come back."""
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON error body."""

    @app.exception_handler(InferlineError)
    async def _inferline_error(_request: Request, exc: InferlineError) -> JSONResponse:
        status = STATUS_BY_KIND[exc.kind]
        if status >= 500 and exc.kind is not ErrorKind.UNAVAILABLE:
            log.error("request failed: %s", exc.message)
        response = error_response(status, exc.kind.value, exc.message, exc.details, exc.retry_after)
        if exc.kind is ErrorKind.UNAUTHENTICATED:
            response.headers["WWW-Authenticate"] = 'Bearer realm="inferline"'
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = field_problems(exc.errors(), skip=_REQUEST_PARTS)
        return error_response(
            422, ErrorKind.INVALID.value, f"invalid request: {problems_summary(problems)}", problems
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI could not read the body (not UTF-8, ...): as invalid as broken JSON
            cause = f"{type(exc.__cause__).__name__}: {exc.__cause__}"
            problems = [{"field": "body", "message": cause, "type": "json_invalid"}]
            return error_response(
                422, ErrorKind.INVALID.value, f"invalid request: body: {cause}", problems
            )
        code = _CODE_BY_HTTP_STATUS.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405 and (methods := allowed_methods(request)):
            response.headers["Allow"] = ", ".join(methods)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # RequestContextMiddleware answers, counts and logs unhandled exceptions; this
        # last resort only sees one raised by a middleware outside it.
        if _is_connection_error(exc):
            log.warning("a server is unreachable: %s", exc)
        else:
            log.error("unhandled error", exc_info=exc)
        return unexpected_error_response(exc, request.headers.get("x-request-id"))


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this request's path, for 405's `Allow`. Starlette
    names only the methods of the first route that matched; the router itself is asked
    here, so that path convertors count (`/api/v1/jobs/batch` is not `/{job_id:uuid}`)."""
    methods = {
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def unexpected_error_response(exc: Exception, request_id: str | None = None) -> JSONResponse:
    """The answer to an exception no handler took: 503 (retry) when a connection to a
    server was lost or refused, else 500 with the request id to quote from the log."""
    if _is_connection_error(exc):
        return error_response(
            503,
            ErrorKind.UNAVAILABLE.value,
            "the database is unreachable; try again shortly",
            retry_after=1,
        )
    details = {"request_id": request_id} if request_id else None
    return error_response(
        500, ErrorKind.INTERNAL.value, "internal error; see the server log", details
    )


def _is_connection_error(exc: BaseException) -> bool:
    """A lost or refused connection (database restarting): the client should retry, 503."""
    from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

    if isinstance(exc, OSError | DisconnectionError | InterfaceError | OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        # SQLSTATE class 08: connection exception; 57P01-57P03: shutting down / starting up
        state = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", "") or "")
        return exc.connection_invalidated or state.startswith(("08", "57P0"))
    return False
