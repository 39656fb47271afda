"""The log ingest's HTTP API (source S4): `POST /api/v1/logs` (Fluent Bit's `http`
output, or any client) and `GET /api/v1/logs/dead-letters`. Thin: read the body within
its limit, parse, hand to `LogIngest`, present."""

from __future__ import annotations

import base64
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from inferline.api.deps import TenantDep
from inferline.api.errors import error_responses
from inferline.apps.logs.http_body import decompress, media_type, parse_body, too_large
from inferline.apps.logs.wiring import LogsApp
from inferline.domain.errors import Unavailable
from inferline.ports.logs import DeadLetter

router = APIRouter(tags=["logs (source S4)"])

_RECORD = {"type": "object", "additionalProperties": True}
# An array's items are not constrained: one that is not a map is a dead letter, not a 422.
_ITEM = {"description": "A log record: a map of fields; anything else is dead-lettered."}
_BODY = {
    "requestBody": {
        "required": True,
        "description": "Log records: a JSON array of maps (Fluent Bit's `format json`), one "
        "map, or one map per line (`json_lines`, as application/x-ndjson). A map's `date` "
        "(Fluent Bit's json_date_key) is its time when it has none of its own.",
        "content": {
            "application/json": {"schema": {"anyOf": [{"type": "array", "items": _ITEM}, _RECORD]}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


def logs_app(request: Request) -> LogsApp:
    app: LogsApp | None = getattr(request.app.state, "logs", None)
    if app is None:
        raise Unavailable("the log ingest is not running in this process", retry_after=1)
    return app


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (413) as soon as it passes `limit` bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/api/v1/logs",
    summary="Ingest log records (Fluent Bit's http output: json or json_lines)",
    status_code=202,
    responses={
        202: {
            "description": "Accepted: valid records are on the stream `logs.raw`, invalid "
            "ones are dead letters (GET /api/v1/logs/dead-letters).",
            "content": {
                "application/json": {
                    "example": {"accepted": 2, "dead_lettered": 1},
                }
            },
        },
        **error_responses(413, 422, 503),
    },
    openapi_extra=_BODY,
)
async def ingest_logs(request: Request, tenant: TenantDep) -> JSONResponse:
    logs = logs_app(request)
    limit = logs.settings.max_body_bytes
    kind = media_type(request.headers.get("content-type"))
    body = decompress(
        await read_body(request, limit), request.headers.get("content-encoding"), limit
    )
    items = parse_body(body, kind, date_key=logs.settings.http_date_key, received=time.time())
    result = await logs.ingest.accept_incoming(items, source="http", tenant=tenant)
    return JSONResponse(
        {"accepted": result.accepted, "dead_lettered": result.dead_lettered}, status_code=202
    )


@router.get(
    "/api/v1/logs/dead-letters",
    summary="Log records that failed validation, newest first (raw bytes as base64)",
    responses=error_responses(422, 503),
)
async def dead_letters(
    request: Request,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Letters per page.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=32, description="next_cursor of the previous page.")
    ] = None,
) -> Any:
    store = logs_app(request).dead_letters
    page = await store.page(tenant, limit=limit, cursor=cursor)
    return {
        "dead_letters": [letter_view(letter) for letter in page.letters],
        "next_cursor": page.next_cursor,
        "total": await store.count(tenant),
    }


def letter_view(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": str(letter.id),
        "source": letter.source,
        "tag": letter.tag,
        "reason": letter.reason,
        "reason_class": letter.reason_class,
        "raw": base64.b64encode(letter.raw).decode("ascii"),
        "raw_size": letter.raw_size,
        "raw_truncated": len(letter.raw) < letter.raw_size,
        "received_at": letter.received_at,
    }
