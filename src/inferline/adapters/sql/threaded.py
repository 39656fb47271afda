"""SQLite without aiosqlite's overhead: the sync driver in our own threads.

aiosqlite hops to its thread three or four times per statement (cursor, execute,
fetch, close). `ThreadedEngine` offers the small part of `AsyncEngine` the store
uses (`begin()`, `connect()`, `dispose()`, `dialect`) and runs each statement,
fully buffered, in one hop. Measured on the 2-core machine: about 3x the
transactions per second of aiosqlite for the store's submit transaction.

No thread ever waits for a connection. A few threads run the statements of many
connections, so a thread that blocked in the pool's checkout would hold up the
statements (and the `close()`) of the very connections it waits for: with 16
concurrent readers that deadlocked until the pool's 30 s timeout. Instead a
connection is reserved in asyncio first (`_slots`, one per pooled connection),
and only then checked out in a thread, where the pool always has one free. A slot
is freed when the connection's `close()` has run, not when its holder's coroutine
ends, so a cancelled holder cannot let a checkout in before its connection is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine, Row

T = TypeVar("T")


@dataclass(slots=True)
class BufferedResult:
    """The rows (all fetched) and row count of one statement."""

    rows: list[Row[Any]]
    rowcount: int

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def first(self) -> Row[Any] | None:
        return self.rows[0] if self.rows else None

    def all(self) -> list[Row[Any]]:
        return self.rows

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]


class ThreadedConnection:
    """A sync connection driven from async code, one thread hop per statement."""

    def __init__(self, connection: Connection, engine: ThreadedEngine) -> None:
        self._connection = connection
        self._engine = engine

    @property
    def dialect(self) -> Dialect:
        """The engine's dialect (as `AsyncConnection.dialect`)."""
        return self._engine.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> BufferedResult:
        return await self._engine.call(self._execute, statement, parameters)

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """`sql` (the driver's own text and placeholders) once per row, in one hop and
        without SQLAlchemy's per-row parameter processing: for bulk inserts of values
        the driver takes as they are."""
        await self._engine.call(self._connection.exec_driver_sql, sql, rows)

    def _execute(self, statement: Any, parameters: Any) -> BufferedResult:
        if parameters is None:
            result = self._connection.execute(statement)
        else:
            result = self._connection.execute(statement, parameters)
        rows = list(result.all()) if result.returns_rows else []
        return BufferedResult(rows, result.rowcount)


class ThreadedEngine:
    """`AsyncEngine`'s `begin()`/`connect()` over a sync engine and a private thread pool.

    `connections` must be the sync engine's whole pool (pool size plus overflow).
    With one connection, as SQLite's writer has, one transaction runs at a time.
    """

    def __init__(self, engine: Engine, *, threads: int, connections: int) -> None:
        if connections < 1:
            raise ValueError("a ThreadedEngine needs at least one connection")
        self.sync_engine = engine
        self.dialect = engine.dialect
        self.connections = connections
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="sqlite")
        self._slots = asyncio.Semaphore(connections)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` in our threads; on cancellation, wait for it to finish first so a
        connection is never closed under a running statement."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[ThreadedConnection]:
        """A transaction: commit on success, roll back on any error."""
        connection = await self._checkout(begin=True)
        try:
            yield ThreadedConnection(connection, self)
        except BaseException:
            await self._release(connection, _rollback_and_close)
            raise
        await self._release(connection, _commit_and_close)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[ThreadedConnection]:
        """A connection for reads (a deferred transaction, released at the end)."""
        connection = await self._checkout(begin=False)
        try:
            yield ThreadedConnection(connection, self)
        finally:
            await self._release(connection, Connection.close)

    async def _checkout(self, *, begin: bool) -> Connection:
        """Reserve a slot (waiting in asyncio, never in a thread), then take a pooled
        connection, which is free by construction, and BEGIN in the same thread hop.
        If our caller is cancelled meanwhile, the connection goes back to the pool
        and the slot with it."""
        await self._slots.acquire()
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, self._open, begin)
        except BaseException:
            self._slots.release()
            raise
        try:
            return await asyncio.shield(future)
        except BaseException:
            await asyncio.wait([future])
            if not future.cancelled() and future.exception() is None:
                await self._release(future.result(), _rollback_and_close)
            else:
                self._slots.release()
            raise

    def _open(self, begin: bool) -> Connection:
        connection = self.sync_engine.connect()
        if begin:
            try:
                connection.begin()
            except BaseException:
                connection.close()
                raise
        return connection

    async def _release(self, connection: Connection, end: Callable[[Connection], None]) -> None:
        """End the connection's use (`end`: commit or roll back, then close) in one thread
        hop; its slot is freed once that has run, whether or not our caller is
        cancelled while it waits."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, end, connection)
        future.add_done_callback(self._free_slot)
        await asyncio.shield(future)

    def _free_slot(self, _future: asyncio.Future[None]) -> None:
        self._slots.release()

    async def dispose(self) -> None:
        await self.call(self.sync_engine.dispose)
        self._executor.shutdown(wait=True)


def _commit_and_close(connection: Connection) -> None:
    try:
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        connection.close()


def _rollback_and_close(connection: Connection) -> None:
    try:
        connection.rollback()
    finally:
        connection.close()
