"""`LogsStore` on SQLAlchemy Core: SQLite (the embedded default), PostgreSQL, MySQL/MariaDB.

A batch is one transaction. Its rows are read, merged in Python and written back (no
dialect-specific upserts): a template's rows for a service are only ever written by the
one consumer of the partition that service's records hash to, and a tenant's miner
state and an incident's row by the one process that mines that tenant's logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, desc, insert, or_, select, tuple_, update

from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.incident_schema import (
    log_consumer_positions,
    log_incidents,
    log_miner_states,
    log_templates,
)
from inferline.domain.errors import InvalidInput, NotFound
from inferline.ports.logs import (
    Incident,
    IncidentFilter,
    IncidentKey,
    LogsBatch,
    LogTemplate,
    PartitionKey,
    TemplateSighting,
)

CHUNK = 500


def encode_cursor(incident: Incident) -> str:
    raw = json.dumps([incident.first_seen, incident.id]).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        first_seen, incident_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(first_seen), str(incident_id)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput("cursor: not a cursor this API returned") from None


class SqlLogsStore(LogsDatabase):
    """The log analysis's tables (migration 0009), on engines the composition root supplies."""

    # -- the processor's side --------------------------------------------------------
    async def processed_positions(
        self, consumer: str, partitions: list[PartitionKey]
    ) -> dict[PartitionKey, dict[str, str]]:
        if not partitions:
            return {}
        c = log_consumer_positions.c
        query = select(c.topic, c.partition_no, c.positions).where(
            c.consumer == consumer, tuple_(c.topic, c.partition_no).in_(partitions)
        )
        async with self.reader.connect() as conn:
            rows = list(await conn.execute(query))
        return {(r.topic, int(r.partition_no)): dict(r.positions) for r in rows}

    async def miner_states(self) -> dict[str, bytes]:
        query = select(log_miner_states.c.tenant, log_miner_states.c.state)
        async with self.reader.connect() as conn:
            return {r.tenant: bytes(r.state) for r in await conn.execute(query)}

    async def latest_incidents(self, keys: list[IncidentKey]) -> dict[IncidentKey, Incident]:
        c = log_incidents.c
        found: dict[IncidentKey, Incident] = {}
        async with self.reader.connect() as conn:
            for tenant, service, template_id in keys:
                query = (
                    select(log_incidents)
                    .where(c.tenant == tenant, c.service == service, c.template_id == template_id)
                    .order_by(desc(c.first_seen))
                    .limit(1)
                )
                row = (await conn.execute(query)).first()
                if row is not None:
                    found[(tenant, service, template_id)] = _incident(row._mapping)
        return found

    async def save_batch(self, consumer: str, batch: LogsBatch) -> None:
        now = time.time()
        async with self.writer.begin() as conn:
            await self._save_templates(conn, batch.templates)
            await self._save_incidents(conn, batch.opened, batch.grown)
            for tenant, state in batch.miner_states.items():
                await conn.execute(
                    delete(log_miner_states).where(log_miner_states.c.tenant == tenant)
                )
                row = {"tenant": tenant, "state": state, "updated_at": now}
                await conn.execute(insert(log_miner_states), [row])
            c = log_consumer_positions.c
            for (topic, partition), positions in batch.positions.items():
                await conn.execute(
                    delete(log_consumer_positions).where(
                        c.consumer == consumer, c.topic == topic, c.partition_no == partition
                    )
                )
                row = {
                    "consumer": consumer,
                    "topic": topic,
                    "partition_no": partition,
                    "positions": positions,
                    "updated_at": now,
                }
                await conn.execute(insert(log_consumer_positions), [row])

    async def _save_templates(self, conn: Any, sightings: Sequence[TemplateSighting]) -> None:
        if not sightings:
            return
        c = log_templates.c
        stored: dict[tuple[str, int, str], Any] = {}
        keys = [(s.tenant, s.template_id, s.service) for s in sightings]
        for start in range(0, len(keys), CHUNK):
            query = select(c.tenant, c.template_id, c.service, c.count, c.first_seen).where(
                tuple_(c.tenant, c.template_id, c.service).in_(keys[start : start + CHUNK])
            )
            for row in await conn.execute(query):
                stored[(row.tenant, int(row.template_id), row.service)] = row
        new, seen = [], []
        for s in sightings:
            before = stored.get((s.tenant, s.template_id, s.service))
            if before is None:
                new.append(
                    {
                        "tenant": s.tenant,
                        "template_id": s.template_id,
                        "service": s.service,
                        "text": s.text,
                        "count": s.count,
                        "first_seen": s.first_seen,
                        "last_seen": s.last_seen,
                    }
                )
            else:
                seen.append(
                    {
                        "b_tenant": s.tenant,
                        "b_template_id": s.template_id,
                        "b_service": s.service,
                        "b_count": int(before.count) + s.count,
                        "b_first_seen": min(float(before.first_seen), s.first_seen),
                        "b_last_seen": s.last_seen,
                    }
                )
        if new:
            await conn.execute(insert(log_templates), new)
        if seen:
            statement = (
                update(log_templates)
                .where(
                    c.tenant == bindparam("b_tenant"),
                    c.template_id == bindparam("b_template_id"),
                    c.service == bindparam("b_service"),
                )
                .values(
                    count=bindparam("b_count"),
                    first_seen=bindparam("b_first_seen"),
                    last_seen=bindparam("b_last_seen"),
                )
            )
            await conn.execute(statement, seen)
        texts = {(s.tenant, s.template_id): s.text for s in sightings}
        rename = (
            update(log_templates)
            .where(
                c.tenant == bindparam("b_tenant"),
                c.template_id == bindparam("b_template_id"),
                c.text != bindparam("b_text"),
            )
            .values(text=bindparam("b_text"))
        )
        params = [{"b_tenant": t, "b_template_id": i, "b_text": x} for (t, i), x in texts.items()]
        await conn.execute(rename, params)

    async def _save_incidents(
        self, conn: Any, opened: Sequence[Incident], grown: Sequence[Incident]
    ) -> None:
        if opened:
            await conn.execute(insert(log_incidents), [_incident_row(i) for i in opened])
        if grown:
            c = log_incidents.c
            statement = (
                update(log_incidents)
                .where(c.id == bindparam("b_id"))
                .values(
                    template=bindparam("b_template"),
                    level=bindparam("b_level"),
                    count=bindparam("b_count"),
                    first_seen=bindparam("b_first_seen"),
                    last_seen=bindparam("b_last_seen"),
                    samples=bindparam("b_samples"),
                    parameters=bindparam("b_parameters"),
                )
            )
            rows = [
                {
                    "b_id": i.id,
                    "b_template": i.template,
                    "b_level": i.level,
                    "b_count": i.count,
                    "b_first_seen": i.first_seen,
                    "b_last_seen": i.last_seen,
                    "b_samples": i.samples,
                    "b_parameters": i.parameters,
                }
                for i in grown
            ]
            await conn.execute(statement, rows)

    # -- the API's side --------------------------------------------------------------
    async def incidents(
        self, tenant: str, where: IncidentFilter, limit: int, cursor: str | None
    ) -> tuple[list[Incident], str | None]:
        c = log_incidents.c
        query = select(log_incidents).where(c.tenant == tenant)
        if where.service is not None:
            query = query.where(c.service == where.service)
        if where.status is not None:
            query = query.where(c.status == where.status)
        if where.level is not None:
            query = query.where(c.level == where.level)
        if where.since is not None:
            query = query.where(c.last_seen >= where.since)
        if where.until is not None:
            query = query.where(c.first_seen <= where.until)
        if cursor is not None:
            first_seen, incident_id = decode_cursor(cursor)
            query = query.where(
                or_(c.first_seen < first_seen, and_(c.first_seen == first_seen, c.id < incident_id))
            )
        query = query.order_by(desc(c.first_seen), desc(c.id)).limit(limit + 1)
        async with self.reader.connect() as conn:
            found = [_incident(r._mapping) for r in await conn.execute(query)]
        page = found[:limit]
        return page, encode_cursor(page[-1]) if len(found) > limit else None

    async def incident(self, tenant: str, incident_id: str) -> Incident:
        query = select(log_incidents).where(
            log_incidents.c.id == incident_id, log_incidents.c.tenant == tenant
        )
        async with self.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        return _incident(row._mapping)

    async def templates(self, tenant: str, service: str | None, limit: int) -> list[LogTemplate]:
        c = log_templates.c
        query = select(log_templates).where(c.tenant == tenant)
        if service is not None:
            query = query.where(c.service == service)
        query = query.order_by(desc(c.count), c.template_id, c.service).limit(limit)
        async with self.reader.connect() as conn:
            rows = list(await conn.execute(query))
        return [
            LogTemplate(
                r.tenant,
                int(r.template_id),
                r.service,
                r.text,
                int(r.count),
                float(r.first_seen),
                float(r.last_seen),
            )
            for r in rows
        ]

    async def set_analysis(self, incident_id: str, analysis: dict[str, Any]) -> Incident:
        return await self._change(incident_id, None, analysis=analysis)

    async def resolve(
        self, incident_id: str, resolution: str, at: float, *, tenant: str | None = None
    ) -> Incident:
        values = {"status": "resolved", "resolution": resolution, "resolved_at": at}
        return await self._change(incident_id, tenant, **values)

    async def _change(self, incident_id: str, tenant: str | None, **values: Any) -> Incident:
        c = log_incidents.c
        condition = c.id == incident_id
        if tenant is not None:
            condition = and_(condition, c.tenant == tenant)
        async with self.writer.begin() as conn:
            row = (await conn.execute(select(log_incidents).where(condition))).first()
            if row is None:
                raise NotFound(f"no incident {incident_id}")
            await conn.execute(update(log_incidents).where(condition).values(**values))
        return _incident({**row._mapping, **values})


def _incident_row(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "tenant": incident.tenant,
        "service": incident.service,
        "template_id": incident.template_id,
        "template": incident.template,
        "level": incident.level,
        "status": incident.status,
        "count": incident.count,
        "first_seen": incident.first_seen,
        "last_seen": incident.last_seen,
        "samples": incident.samples,
        "parameters": incident.parameters,
        "resolution": incident.resolution,
        "resolved_at": incident.resolved_at,
        "analysis": incident.analysis,
    }


def _incident(m: Any) -> Incident:
    return Incident(
        id=m["id"],
        tenant=m["tenant"],
        service=m["service"],
        template_id=int(m["template_id"]),
        template=m["template"],
        level=m["level"],
        status=m["status"],
        count=int(m["count"]),
        first_seen=float(m["first_seen"]),
        last_seen=float(m["last_seen"]),
        samples=list(m["samples"] or []),
        parameters=list(m["parameters"] or []),
        resolution=m["resolution"],
        resolved_at=None if m["resolved_at"] is None else float(m["resolved_at"]),
        analysis=m["analysis"],
    )
