"""`KeyStore` on the job store's database (table `api_keys`, migration 0006)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from inferline.adapters.sql.engine import SqlEngine, create_engines
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.adapters.sql.schema import api_keys
from inferline.ports.auth import StoredKey


class SqlKeyStore:
    """API keys in SQLite, PostgreSQL or MySQL/MariaDB, on engines of its own."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self._migrate = migrate
        self._writer: SqlEngine | None = None
        self._reader: SqlEngine | None = None

    async def start(self) -> None:
        if self._writer is not None:
            return
        if self._migrate:
            await upgrade_to_head(self.url)
        self._writer, self._reader = create_engines(self.url)

    async def close(self) -> None:
        engines = {id(e): e for e in (self._writer, self._reader) if e is not None}
        self._writer = self._reader = None
        for engine in engines.values():
            await engine.dispose()

    def _engines(self) -> tuple[SqlEngine, SqlEngine]:
        if self._writer is None or self._reader is None:
            raise RuntimeError("the key store is not started")
        return self._writer, self._reader

    async def add_key(self, key: StoredKey) -> None:
        writer, _ = self._engines()
        async with writer.begin() as conn:
            await conn.execute(insert(api_keys).values(**_values(key)))

    async def key_by_prefix(self, prefix: str) -> StoredKey | None:
        _, reader = self._engines()
        async with reader.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.prefix == prefix))).first()
        return _key(row._mapping) if row is not None else None

    async def list_keys(self, tenant: str | None) -> list[StoredKey]:
        _, reader = self._engines()
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        async with reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_key(row._mapping) for row in rows]

    async def revoke_key(self, key_id: str, tenant: str | None, at: float) -> StoredKey | None:
        writer, _ = self._engines()
        where = [api_keys.c.id == key_id]
        if tenant is not None:
            where.append(api_keys.c.tenant == tenant)
        async with writer.begin() as conn:
            row = (await conn.execute(select(api_keys).where(*where))).first()
            if row is None:
                return None
            if row.revoked_at is None:
                await conn.execute(update(api_keys).where(*where).values(revoked_at=at))
            row = (await conn.execute(select(api_keys).where(*where))).first()
        assert row is not None
        return _key(row._mapping)


def _values(key: StoredKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "digest": key.digest,
        "scheme": key.scheme,
        "tenant": key.tenant,
        "scopes": sorted(key.scopes),
        "name": key.name,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "rate_limit": key.rate_limit,
        "max_concurrent_jobs": key.max_concurrent_jobs,
    }


def _key(row: Any) -> StoredKey:
    return StoredKey(
        id=row["id"],
        prefix=row["prefix"],
        digest=row["digest"],
        scheme=row["scheme"],
        tenant=row["tenant"],
        scopes=frozenset(row["scopes"]),
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        rate_limit=row["rate_limit"],
        max_concurrent_jobs=row["max_concurrent_jobs"],
    )
