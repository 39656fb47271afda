"""Group commit: many concurrent callers, one database transaction per flush.

Items that arrive while a flush is running form the next flush, so batching
adds no waiting when the database is idle and grows with load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommitter(Generic[T, R]):
    """Collects items and writes them with `flush(items) -> results` (same order)."""

    def __init__(
        self, flush: Callable[[list[T]], Awaitable[list[R]]], max_items: int = 1000
    ) -> None:
        self._flush = flush
        self._max_items = max_items
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Add one item and wait until its flush has committed."""
        return await self.submit_nowait(item)

    def submit_nowait(self, item: T) -> asyncio.Future[R]:
        """Add one item without waiting; the future resolves after the commit."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running is None:
            self._running = asyncio.create_task(self._drain())
        return future

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def drain(self) -> None:
        """Wait until everything submitted so far is flushed."""
        while self._running is not None:
            await asyncio.shield(self._running)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_items]
                del self._pending[: self._max_items]
                try:
                    results = await self._flush([item for item, _ in batch])
                except BaseException as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._running = None
