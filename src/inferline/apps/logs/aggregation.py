"""The hourly aggregation: one hour's lines (by their timestamp) counted by service, level
and template, stored so that re-running the hour replaces its rows (idempotent)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel

from inferline.ports.log_archive import GroupCount, HourlyCount, LogArchive, LogReports

HOUR_SECONDS = 3600.0


class HourCount(BaseModel):
    """One row of an hour's counts (`template_id` None: the line was not mined)."""

    hour: datetime
    service: str
    level: str
    template_id: str | None
    count: int


class HourAggregate(BaseModel):
    """What one run stored for one tenant's hour."""

    hour: datetime
    tenant: str
    records: int
    groups: int
    counts: list[HourCount]


def parse_hour(text: str) -> float:
    """A UTC hour `YYYY-MM-DDTHH` as the UNIX seconds it starts at."""
    problem = ValueError(f"not an hour from 1970 on: {text!r} (expected YYYY-MM-DDTHH, UTC)")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}", text):
        raise problem
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:
        raise problem from None
    if not 1970 <= moment.year < 9999:
        raise problem
    return moment.timestamp()


def hour_start(moment: float) -> float:
    """The start of the hour `moment` is in."""
    return moment - moment % HOUR_SECONDS


def as_time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def hour_count(row: HourlyCount | GroupCount, hour: float) -> HourCount:
    return HourCount(
        hour=as_time(hour),
        service=row.service,
        level=row.level,
        template_id=row.template_id,
        count=row.count,
    )


class HourlyAggregation:
    """Counts an hour's lines in the archive and stores them in the reports."""

    def __init__(self, archive: LogArchive, reports: LogReports) -> None:
        self.archive = archive
        self.reports = reports

    async def run(self, tenant: str, hour: float) -> HourAggregate:
        if hour % HOUR_SECONDS:
            raise ValueError(f"{hour} is not the start of an hour")
        counts = await self.archive.counts(tenant, hour, hour + HOUR_SECONDS)
        counts.sort(key=lambda c: (-c.count, c.service, c.level, c.template_id or ""))
        await self.reports.replace_hour(tenant, hour, counts)
        return HourAggregate(
            hour=as_time(hour),
            tenant=tenant,
            records=sum(c.count for c in counts),
            groups=len(counts),
            counts=[hour_count(c, hour) for c in counts],
        )
