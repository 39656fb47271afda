"""Apply the Alembic migrations shipped in the package (`inferline/migrations`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_to_head(url: str) -> None:
    """Bring the schema up to date. Safe when several processes start together:
    the migration holds a database lock (BEGIN IMMEDIATE on SQLite, an advisory
    lock on PostgreSQL, GET_LOCK on MySQL) while it checks and applies versions."""
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
