"""Helpers for server-push WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect


async def push_until_disconnected(websocket: WebSocket, pusher: Coroutine[Any, Any, None]) -> None:
    """Run `pusher` until it ends or the client goes away, whichever comes first.

    A handler that only sends notices a vanished client at its next send, which may
    be never on a quiet feed; the server's graceful shutdown would then wait for it.
    Reading alongside notices the close at once.
    """
    push = asyncio.create_task(pusher)
    closed = asyncio.create_task(_until_closed(websocket))
    try:
        await asyncio.wait({push, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (push, closed):
            task.cancel()
        for task in (push, closed):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
