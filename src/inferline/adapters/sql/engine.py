"""Async engines for the SQL store, with the settings each engine needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from inferline.adapters.sql.threaded import ThreadedConnection, ThreadedEngine

SqlEngine = AsyncEngine | ThreadedEngine
SqlConnection = AsyncConnection | ThreadedConnection


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
    writer = create_engine(
        sync_url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False}
    )
    reader = create_engine(
        sync_url, pool_size=4, max_overflow=4, connect_args={"check_same_thread": False}
    )
    _sqlite_pragmas(writer, immediate=True)
    _sqlite_pragmas(reader, immediate=False)
    return (
        ThreadedEngine(writer, threads=1, serialize=True),
        ThreadedEngine(reader, threads=2, serialize=False),
    )


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
