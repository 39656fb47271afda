"""The lease lock in the job store's database: `LeaseLock` for deployments without Redis.

One `lease_locks` row per name holds the holder, the end of its lease and the token
of the last acquisition. Acquiring reads the row first (no write while someone holds
it, so followers cost one read a second) and then, in a write transaction with the
row locked (`FOR UPDATE`; SQLite's single writer), takes it when it is free or its
lease ended, with the token plus one. Renew and release change the row only while it
still names this holder and token. Times are the store's clock: processes whose clocks
disagree see a lease end early or late by the difference, and the outbox's fence keeps
that harmless.
"""

from __future__ import annotations

from sqlalchemy import select, update

from inferline.adapters.sql.base import SqlStoreBase
from inferline.adapters.sql.schema import lease_locks
from inferline.ports.locks import Lease


class SqlLeaseLock:
    """`LeaseLock` on the `lease_locks` table of the store's database."""

    def __init__(self, store: SqlStoreBase) -> None:
        self.store = store

    async def acquire(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        now = self.store.clock.now()
        query = select(lease_locks).where(lease_locks.c.name == name)
        async with self.store.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is not None and row.holder is not None and row.lease_until > now:
            return None  # held: decided by a read, without taking the writer
        async with self.store.writer.begin() as conn:
            row = (await conn.execute(query.with_for_update())).first()
            if row is None:
                await conn.execute(
                    self.store._insert_ignoring_duplicates(lease_locks),
                    {"name": name, "holder": None, "token": 0, "lease_until": 0.0},
                )
                row = (await conn.execute(query.with_for_update())).first()
                assert row is not None
            now = self.store.clock.now()
            if row.holder is not None and row.lease_until > now:
                return None
            token = int(row.token) + 1
            await conn.execute(
                update(lease_locks)
                .where(lease_locks.c.name == name)
                .values(holder=holder, token=token, lease_until=now + ttl_seconds)
            )
        return Lease(name, holder, token)

    async def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        now = self.store.clock.now()
        async with self.store.writer.begin() as conn:
            result = await conn.execute(
                update(lease_locks)
                .where(
                    lease_locks.c.name == lease.name,
                    lease_locks.c.holder == lease.holder,
                    lease_locks.c.token == lease.token,
                    lease_locks.c.lease_until > now,
                )
                .values(lease_until=now + ttl_seconds)
            )
        return (result.rowcount or 0) == 1

    async def release(self, lease: Lease) -> None:
        async with self.store.writer.begin() as conn:
            await conn.execute(
                update(lease_locks)
                .where(
                    lease_locks.c.name == lease.name,
                    lease_locks.c.holder == lease.holder,
                    lease_locks.c.token == lease.token,
                )
                .values(holder=None, lease_until=0.0)
            )

    async def raise_floor(self, name: str, token: int) -> None:
        async with self.store.writer.begin() as conn:
            await conn.execute(
                update(lease_locks)
                .where(lease_locks.c.name == name, lease_locks.c.token < token)
                .values(token=token)
            )

    async def close(self) -> None:
        return None  # the store's engines are the store's to close
