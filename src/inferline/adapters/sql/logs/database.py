"""The log tables' database, shared by the dead-letter store and the embedded stream.

Each user `start`s and `close`s it; the first start migrates and opens the engines,
the last close disposes of them, so the two adapters need no owner between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from inferline.domain.errors import Unavailable

Engines = Callable[[str], tuple[Any, Any]]
"""url → (writer, reader) engines (the platform's `create_engines`)."""
Migrate = Callable[[str], Awaitable[None]]
"""url → the schema brought up to date (the platform's `upgrade_to_head`)."""


class LogsDatabase:
    """The job store's database, reached with engines of the log tables' own: the base of
    every log adapter (dead letters, the embedded stream, templates and incidents, the
    archive and its reports). Started and closed by each user; the engines go with the
    last `close`."""

    def __init__(self, url: str, engines: Engines, migrate: Migrate) -> None:
        self.url = url
        self._engines = engines
        self._migrate = migrate
        self._writer: Any = None
        self._reader: Any = None
        self._users = 0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._users == 0:
                await self._migrate(self.url)
                self._writer, self._reader = self._engines(self.url)
            self._users += 1

    async def close(self) -> None:
        async with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users > 0:
                return
            for engine in {id(e): e for e in (self._writer, self._reader) if e}.values():
                await engine.dispose()
            self._writer = self._reader = None

    @property
    def writer(self) -> Any:
        if self._writer is None:
            raise Unavailable("the database is not connected yet", retry_after=1.0)
        return self._writer

    @property
    def reader(self) -> Any:
        if self._reader is None:
            raise Unavailable("the database is not connected yet", retry_after=1.0)
        return self._reader
