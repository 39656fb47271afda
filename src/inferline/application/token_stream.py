"""Text pieces from a model thread to one asyncio consumer, and "stop" back.

The model generates in its batcher's thread; the consumer (an HTTP stream, the
LLM port) reads on the event loop. `put` hands each piece over with
`loop.call_soon_threadsafe`, so the thread never touches the asyncio queue
itself and never waits. The batcher completes the item's future through the same
loop afterwards, so the `close` that follows the item's end is queued after every
piece: nothing is lost or reordered. `cancel` (the consumer left) is a
`threading.Event` the model checks before each token.

The queue is unbounded: a generation is bounded by its `max_tokens`, and a slow
reader only delays its own answer.
"""

from __future__ import annotations

import asyncio
import threading


class TokenStream:
    """One generation's text, produced in a thread and consumed on an event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._cancelled = threading.Event()

    # -- the model thread --------------------------------------------------------
    def put(self, text: str) -> None:
        """Queue a piece of text for the consumer (thread-safe; never blocks)."""
        if self._cancelled.is_set():
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, text)
        except RuntimeError:  # the loop is closed: nobody can read any more
            self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    # -- the event loop ----------------------------------------------------------
    def cancel(self) -> None:
        """The consumer is gone: the model stops at its next token."""
        self._cancelled.set()

    def close(self) -> None:
        """No more text will come (call on the loop, after the generation ended)."""
        self._queue.put_nowait(None)

    async def get(self) -> str | None:
        """The next piece, or None once the stream is closed."""
        return await self._queue.get()


class StopSignal:
    """A sink that keeps no text: it only lets a caller who waits for the whole answer
    stop the generation when it gives up (cancelled: its client left)."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()

    def put(self, text: str) -> None:
        """Nothing to do: the answer comes whole, as the item's output."""

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()
