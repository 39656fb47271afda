"""Stop a synchronous request's work when its HTTP client goes away.

Uvicorn does not cancel a handler whose client disconnected: without help, an
abandoned inference keeps its place in the model's batcher, runs, and delays the
requests behind it. `unless_disconnected` races the work against the request's
receive channel: once the body has been read, the only message left for the
request is `http.disconnect`. When it arrives first, the work is cancelled (an
item still waiting for its batch leaves the batcher, see `MicroBatcher`) and the
answer is a 499 that nobody reads but the access log and the HTTP metrics count.

Only read-only work is wrapped: cancelling a write half way would leave it half done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import Receive

from inferline.api.errors import error_response

T = TypeVar("T")

CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that closed the connection first


class ClientDisconnected(Exception):
    """The HTTP client went away before its answer was ready; the work was cancelled."""


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Await `work`; if the client disconnects first, cancel it and raise `ClientDisconnected`.

    Call it from an endpoint, after FastAPI has read the body."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(request.receive))
    watcher.add_done_callback(lambda _: task.cancel())
    try:
        return await task
    except asyncio.CancelledError:
        if watcher.done() and not watcher.cancelled():
            raise ClientDisconnected() from None
        raise
    finally:
        watcher.cancel()


async def _disconnect(receive: Receive) -> None:
    """Return when the client has disconnected (or the channel broke: it is gone too)."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass  # a body chunk the endpoint did not read
    except Exception:
        return


def install_disconnect_handler(app: FastAPI) -> None:
    """Answer `ClientDisconnected` with 499 (for the access log and metrics only)."""

    @app.exception_handler(ClientDisconnected)
    async def _client_disconnected(_request: Request, _exc: ClientDisconnected) -> JSONResponse:
        return error_response(
            CLIENT_CLOSED_REQUEST,
            "client_closed_request",
            "the client disconnected before the answer was ready; its work was cancelled",
        )
