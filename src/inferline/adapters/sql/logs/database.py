"""The log tables' database, shared by the dead-letter store and the embedded stream.

Each user `start`s and `close`s it; the first start migrates and opens the engines,
the last close disposes of them, so the two adapters need no owner between them.

`SharedEngines` lets every log adapter of a process (ingest, stream, templates and
incidents, archive) use one pair of engines per database. On SQLite that is one writer
connection, and writes queue for it in order; with a writer each, they would queue for
SQLite's file lock in its busy handler, which sleeps 1, 2, 5, 10 ms and more between
tries, and the ingest's acknowledgements waited behind the consumer's transactions.
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


class SharedEngines:
    """One (writer, reader) pair per database URL for the `LogsDatabase`s that share this
    object (see the module), disposed of when the last of them closes. One per process
    (per event loop: engines belong to the loop that uses them)."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines
        self._open: dict[str, tuple[Any, Any]] = {}
        self._holders: dict[str, int] = {}

    def acquire(self, url: str) -> tuple[Any, Any]:
        if url not in self._open:
            self._open[url] = self._engines(url)
        self._holders[url] = self._holders.get(url, 0) + 1
        return self._open[url]

    async def release(self, url: str) -> None:
        self._holders[url] -= 1
        if self._holders[url] > 0:
            return
        del self._holders[url]
        writer, reader = self._open.pop(url)
        for engine in {id(e): e for e in (writer, reader)}.values():
            await engine.dispose()


class LogsDatabase:
    """The job store's database, reached with engines of the log tables' own: the base of
    every log adapter (dead letters, the embedded stream, templates and incidents, the
    archive and its reports). Started and closed by each user; the engines go with the
    last `close`. `engines`: a function (engines of its own) or `SharedEngines`."""

    def __init__(self, url: str, engines: Engines | SharedEngines, migrate: Migrate) -> None:
        self.url = url
        self._engines = engines if isinstance(engines, SharedEngines) else SharedEngines(engines)
        self._migrate = migrate
        self._writer: Any = None
        self._reader: Any = None
        self._users = 0
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        async with self._lock:
            if self._users == 0:
                await self._migrate(self.url)
                self._writer, self._reader = self._engines.acquire(self.url)
            self._users += 1

    async def close(self) -> None:
        async with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users > 0:
                return
            self._writer = self._reader = None
            await self._engines.release(self.url)

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
