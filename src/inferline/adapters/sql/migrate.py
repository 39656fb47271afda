"""Apply the Alembic migrations shipped in the package (`inferline/migrations`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def current_revision(url: str) -> str | None:
    """The schema version the database is at (None when it has none), read without locks."""
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


async def upgrade_to_head(url: str) -> None:
    """Bring the schema up to date. A database already at the latest version is only
    read (no lock, so a process joining a busy deployment starts at once). Otherwise
    the migration holds a database lock (BEGIN IMMEDIATE on SQLite, an advisory lock
    on PostgreSQL, GET_LOCK on MySQL) while it checks and applies versions, so
    processes starting together migrate once."""
    config = alembic_config(url)
    head = ScriptDirectory.from_config(config).get_current_head()
    if await current_revision(url) == head:
        return
    await asyncio.to_thread(command.upgrade, config, "head")
