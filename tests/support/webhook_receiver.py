"""A local stand-in for a Slack incoming webhook: a real HTTP server (aiohttp, in the test's
event loop) that records every request it gets and answers what the test scripted for
the next ones (429 with Retry-After, 500, 404, …), then Slack's `200 ok`.

Its URL has a random secret path, like a real webhook's, so that tests can look for it
in logs and error messages. It writes no access log (that would be the test's leak, not
the code's).
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from inferline.testing.server import free_port


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int


class WebhookReceiver:
    """Records requests; answers from `script`, then `200 ok`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.url = ""
        self.script: deque[Reply] = deque()
        self.received: list[Received] = []

    def then(self, reply: Reply, times: int = 1) -> WebhookReceiver:
        """Answer `reply` to the next `times` requests (after what is scripted already)."""
        self.script.extend([reply] * times)
        return self

    def rate_limit(self, retry_after: float, times: int = 1) -> WebhookReceiver:
        return self.then(Reply(429, "rate_limited", {"Retry-After": f"{retry_after:g}"}), times)

    def fail(self, status: int, body: str = "server_error", times: int = 1) -> WebhookReceiver:
        return self.then(Reply(status, body), times)

    @property
    def delivered(self) -> list[Received]:
        """The requests answered 2xx: the messages Slack would have shown."""
        return [r for r in self.received if 200 <= r.status < 300]

    @property
    def texts(self) -> list[str]:
        return [str(r.body.get("text", "")) for r in self.delivered]

    async def _answer(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"unreadable": raw.decode("utf-8", "replace")}
        reply = self.script.popleft() if self.script else Reply()
        self.received.append(Received(request.path, dict(request.headers), body, reply.status))
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    """Serve a receiver on a free port; its `url` is a webhook URL with a secret path."""
    path = f"/services/T0TEST/B0TEST/{secrets.token_urlsafe(18)}"
    receiver = WebhookReceiver(path)
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver._answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
