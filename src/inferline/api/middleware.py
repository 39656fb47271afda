"""Pure ASGI middleware: request ids, body size limit, HTTP metrics."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inferline.api.errors import error_body
from inferline.core.logging import request_id_var
from inferline.core.metrics import Metrics

REQUEST_ID_HEADER = b"x-request-id"

access_logger = logging.getLogger("inferline.access")
# Probes and scrapes arrive every few seconds: their access lines are DEBUG, not INFO.
QUIET_ROUTES = frozenset({"/livez", "/readyz", "/health", "/metrics"})


class RequestContextMiddleware:
    """Gives every request an id (from X-Request-ID or new), returns it, logs with it,
    rejects bodies over `max_body_bytes` with 413 before the app reads them, and
    counts requests by route template and status."""

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
        status_holder = {"status": 500}
        encoded_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, encoded_id)]
            await send(message)

        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(send_with_id)
        else:
            body_receive = receive if length is not None else await self._buffered(receive)
            if body_receive is None:
                await self._too_large(send_with_id)
            else:
                await self.app(scope, body_receive, send_with_id)
        route = scope.get("route")
        template = getattr(route, "path", "unmatched")
        method = scope.get("method", "GET")
        status = status_holder["status"]
        elapsed = time.perf_counter() - started
        self.metrics.http_requests.labels(template, method, str(status)).inc()
        self.metrics.http_latency.labels(template, method).observe(elapsed)
        if self.access_log:
            level = logging.DEBUG if template in QUIET_ROUTES else logging.INFO
            access_logger.log(
                level,
                "%s %s %d",
                method,
                scope.get("path", ""),
                status,
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
