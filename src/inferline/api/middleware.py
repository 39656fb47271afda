"""Pure ASGI middleware: request ids, body size limit, HTTP metrics."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inferline.api.errors import error_body, unexpected_error_response
from inferline.core.logging import request_id_var
from inferline.core.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"

access_logger = logging.getLogger("inferline.access")
# Probes and scrapes arrive every few seconds: their access lines are DEBUG, not INFO.
QUIET_ROUTES = frozenset({"/livez", "/readyz", "/health", "/metrics"})


class _ResponseState:
    """What the app has sent so far: the status, and whether the response started."""

    __slots__ = ("started", "status")

    def __init__(self) -> None:
        self.status = 500
        self.started = False


class RequestContextMiddleware:
    """Gives every request an id (from X-Request-ID or new), returns it, logs with it,
    rejects bodies over `max_body_bytes` with 413 before the app reads them, and
    counts requests by route template and status.

    It is also where an exception that no handler took ends: Starlette's own
    last-resort handler sits outside every middleware, so the request would go
    uncounted and unlogged. Here it gets the JSON error body (500, or 503 for a lost
    connection to a server), its count and one log line with the request id.
    """

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, access_log: bool = True
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        request_id = headers.get(REQUEST_ID_HEADER, b"").decode("latin-1")[:128] or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, headers, request_id)
        finally:
            request_id_var.reset(token)

    async def _http(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        request_id: str,
    ) -> None:
        started = time.perf_counter()
        response = _ResponseState()
        encoded_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                response.status = message["status"]
                response.started = True
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, encoded_id)]
            await send(message)

        failure: Exception | None = None
        try:
            await self._dispatch(scope, receive, send_with_id, headers)
        except Exception as exc:  # no handler took it: answer, count and log it here, once
            failure = exc
            answer = unexpected_error_response(exc, request_id)
            if response.started:  # too late for a body: the server cuts the connection
                response.status = answer.status_code
            else:
                await answer(scope, receive, send_with_id)
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        method = scope.get("method", "GET")
        status = response.status
        elapsed = time.perf_counter() - started
        self.metrics.http_requests.labels(template, method, str(status)).inc()
        self.metrics.http_latency.labels(template, method).observe(elapsed)
        if self.access_log or failure is not None:
            self._log(scope, template, status, elapsed, failure)

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        """Refuse a body over the limit (413), else run the app."""
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(send)
            return
        body_receive = receive if length is not None else await self._buffered(receive)
        if body_receive is None:
            await self._too_large(send)
            return
        await self.app(scope, body_receive, send)

    def _log(
        self,
        scope: Scope,
        template: str,
        status: int,
        elapsed: float,
        failure: Exception | None,
    ) -> None:
        """The access line; for an unhandled exception it is also the one error line, with
        the traceback (a lost connection to a server is a warning without one)."""
        method = scope.get("method", "GET")
        level = logging.DEBUG if template in QUIET_ROUTES else logging.INFO
        message = "%s %s %d"
        args: tuple[Any, ...] = (method, scope.get("path", ""), status)
        exc_info: Exception | None = None
        if failure is not None:
            message += ": %s: %s"
            args = (*args, type(failure).__name__, failure)
            if status == 503:
                level = logging.WARNING
            else:
                level, exc_info = logging.ERROR, failure
        access_logger.log(
            level,
            message,
            *args,
            exc_info=exc_info,
            extra={
                "method": method,
                "route": template,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
            },
        )

    async def _buffered(self, receive: Receive) -> Receive | None:
        """Read a body of unknown length up to the limit; None when it is over."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    async def _too_large(self, send: Any) -> None:
        payload = json.dumps(
            error_body(
                "payload_too_large",
                f"request body is over the limit of {self.max_body_bytes} bytes",
                {"limit_bytes": self.max_body_bytes},
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
