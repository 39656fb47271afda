"""Throw-away databases and Redis key prefixes on the local servers, for tests and benchmarks.

Each test gets its own PostgreSQL or MariaDB database (created here, dropped after)
or its own Redis key prefix, so tests never see each other's data or a real deployment's.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

POSTGRES_HOST = os.environ.get("INFERLINE_TEST_POSTGRES", "127.0.0.1:5432")
MYSQL_HOST = os.environ.get("INFERLINE_TEST_MYSQL", "127.0.0.1:3306")
REDIS_HOST = os.environ.get("INFERLINE_TEST_REDIS", "127.0.0.1:6379")


@dataclass(frozen=True, slots=True)
class Server:
    """A local server the integration tests need."""

    name: str
    address: str  # host:port

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def is_up(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0):
                return True
        except OSError:
            return False


POSTGRES = Server("PostgreSQL", POSTGRES_HOST)
MYSQL = Server("MariaDB/MySQL", MYSQL_HOST)
REDIS = Server("Redis", REDIS_HOST)


def unique_name(prefix: str = "inferline_test") -> str:
    """A name no other test uses: `prefix_<12 hex>`."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_postgres_database(name: str, address: str = POSTGRES_HOST) -> str:
    """Create an empty PostgreSQL database; returns its SQLAlchemy URL."""
    await _postgres_execute(f'CREATE DATABASE "{name}"', address)
    return f"postgresql+asyncpg://postgres@{address}/{name}"


async def drop_postgres_database(name: str, address: str = POSTGRES_HOST) -> None:
    """Drop a database made by `create_postgres_database`, closing its sessions."""
    await _postgres_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', address)


async def create_mysql_database(name: str, address: str = MYSQL_HOST) -> str:
    """Create an empty MariaDB/MySQL database (utf8mb4); returns its SQLAlchemy URL."""
    await _mysql_execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4", address)
    return f"mysql+aiomysql://root@{address}/{name}?charset=utf8mb4"


async def drop_mysql_database(name: str, address: str = MYSQL_HOST) -> None:
    """Drop a database made by `create_mysql_database`."""
    await _mysql_execute(f"DROP DATABASE IF EXISTS `{name}`", address)


async def _postgres_execute(sql: str, address: str) -> None:
    import asyncpg

    host, port = address.rsplit(":", 1)
    conn = await asyncpg.connect(host=host, port=int(port), user="postgres", database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _mysql_execute(sql: str, address: str) -> None:
    import aiomysql

    host, port = address.rsplit(":", 1)
    conn = await aiomysql.connect(host=host, port=int(port), user="root", autocommit=True)
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(sql)
    finally:
        conn.close()


async def delete_redis_prefix(prefix: str, address: str = REDIS_HOST, db: int = 0) -> None:
    """Delete every Redis key under `prefix:` (in database `db`)."""
    from redis.asyncio import Redis

    host, port = address.rsplit(":", 1)
    client = Redis(host=host, port=int(port), db=db)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def redis_url(address: str = REDIS_HOST, db: int = 0) -> str:
    """The Redis URL of the local test server."""
    return f"redis://{address}/{db}"
