"""Async engines for the SQL store, with the settings each engine needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engines(url: str) -> tuple[AsyncEngine, AsyncEngine]:
    """A (writer, reader) pair. On SQLite the writer takes the write lock at BEGIN
    (BEGIN IMMEDIATE), so read-then-write transactions of two processes never
    interleave; readers stay concurrent under WAL. Elsewhere both are one engine."""
    if not is_sqlite(url):
        engine = create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
        return engine, engine
    writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
    reader = create_async_engine(url, pool_size=4, max_overflow=4)
    _sqlite_pragmas(writer, immediate=True)
    _sqlite_pragmas(reader, immediate=False)
    return writer, reader


def _sqlite_pragmas(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
