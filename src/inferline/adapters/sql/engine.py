"""Async engines for the SQL store, with the settings each engine needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from inferline.adapters.sql.threaded import ThreadedConnection, ThreadedEngine

SqlEngine = AsyncEngine | ThreadedEngine
SqlConnection = AsyncConnection | ThreadedConnection

# Concurrent SQLite readers (WAL lets them run beside the one writer).
SQLITE_READERS = 8


def is_sqlite(url: str) -> bool:
    """True for a SQLite URL."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engines(url: str) -> tuple[SqlEngine, SqlEngine]:
    """A (writer, reader) pair. On SQLite both run the sync driver in private
    threads (see `threaded.py`); the writer takes the write lock at BEGIN
    (BEGIN IMMEDIATE), so read-then-write transactions of two processes never
    interleave, and runs one transaction at a time; readers stay concurrent under
    WAL. Elsewhere both are one async engine."""
    if not is_sqlite(url):
        options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}
        if make_url(url).get_backend_name() in ("mysql", "mariadb"):
            # REPEATABLE READ (MySQL's default) would hide rows that a concurrent
            # transaction committed, e.g. the winner of an idempotency-key race.
            options["isolation_level"] = "READ COMMITTED"
        engine = create_async_engine(url, **options)
        return engine, engine
    sync_url = make_url(url).set(drivername="sqlite")
    writer = _sqlite_engine(sync_url, connections=1, immediate=True)
    reader = _sqlite_engine(sync_url, connections=SQLITE_READERS, immediate=False)
    return (
        ThreadedEngine(writer, threads=1, connections=1),
        ThreadedEngine(reader, threads=2, connections=SQLITE_READERS),
    )


def _sqlite_engine(url: URL, *, connections: int, immediate: bool) -> Engine:
    """A sync engine whose pool holds exactly `connections` (the ThreadedEngine reserves
    one before every checkout, so the pool never makes a thread wait)."""
    engine = create_engine(
        url,
        pool_size=connections,
        max_overflow=0,
        pool_timeout=5,  # never reached by design; a short timeout shows a broken invariant
        connect_args={"check_same_thread": False},
    )
    _sqlite_pragmas(engine, immediate=immediate)
    return engine


def _sqlite_pragmas(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
