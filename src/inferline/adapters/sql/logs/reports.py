"""`LogReports` on SQLAlchemy Core: the batch jobs' quality reports, hourly counts and
progress. Each write replaces the period's rows in one transaction (delete, insert), the
same on every database, so that re-running a period leaves exactly its latest result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select

from inferline.adapters.sql.logs.archive_schema import (
    NO_TEMPLATE,
    log_batch_progress,
    log_hourly_counts,
    log_quality_reports,
)
from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.ports.log_archive import GroupCount, HourlyCount


class SqlLogReports(LogsDatabase):
    """`LogReports` on the `log_quality_reports`, `log_hourly_counts` and
    `log_batch_progress` tables."""

    async def save_quality(
        self, tenant: str, day: str, passed: bool, report: dict[str, Any], *, at: float
    ) -> None:
        t = log_quality_reports
        async with self.writer.begin() as conn:
            await conn.execute(delete(t).where(t.c.tenant == tenant, t.c.day == day))
            await conn.execute(
                insert(t).values(
                    tenant=tenant, day=day, passed=passed, report=report, created_at=at
                )
            )

    async def quality(self, tenant: str, day: str) -> dict[str, Any] | None:
        t = log_quality_reports
        query = select(t.c.report).where(t.c.tenant == tenant, t.c.day == day)
        async with self.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else dict(row[0])

    async def latest_quality(self, tenant: str) -> dict[str, Any] | None:
        t = log_quality_reports
        query = select(t.c.report).where(t.c.tenant == tenant).order_by(t.c.day.desc()).limit(1)
        async with self.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else dict(row[0])

    async def replace_hour(self, tenant: str, hour: float, counts: Sequence[GroupCount]) -> None:
        t = log_hourly_counts
        rows = [
            {
                "tenant": tenant,
                "hour": hour,
                "service": c.service,
                "level": c.level,
                "template_id": c.template_id or NO_TEMPLATE,
                "count": c.count,
            }
            for c in counts
        ]
        async with self.writer.begin() as conn:
            await conn.execute(delete(t).where(t.c.tenant == tenant, t.c.hour == hour))
            if rows:
                await conn.execute(insert(t), rows)

    async def hourly(self, tenant: str, start: float, end: float) -> list[HourlyCount]:
        t = log_hourly_counts
        query = (
            select(t)
            .where(t.c.tenant == tenant, t.c.hour >= start, t.c.hour < end)
            .order_by(t.c.hour, t.c.count.desc(), t.c.service, t.c.level, t.c.template_id)
        )
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            HourlyCount(
                hour=float(r.hour),
                service=r.service,
                level=r.level,
                template_id=r.template_id or None,
                count=int(r.count),
            )
            for r in rows
        ]

    async def progress(self, job: str) -> float | None:
        t = log_batch_progress
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(t.c.period).where(t.c.job == job))).first()
        return None if row is None else float(row[0])

    async def set_progress(self, job: str, period: float, *, at: float) -> None:
        t = log_batch_progress
        async with self.writer.begin() as conn:
            await conn.execute(delete(t).where(t.c.job == job))
            await conn.execute(insert(t).values(job=job, period=period, updated_at=at))
