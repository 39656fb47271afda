"""The batch jobs over the log archive, for one tenant or every tenant with lines in the
period, and the stored reports they leave: what the CLI, the scheduler and the routes call."""

from __future__ import annotations

from datetime import date

from inferline.apps.logs.aggregation import (
    HOUR_SECONDS,
    HourAggregate,
    HourCount,
    HourlyAggregation,
    hour_count,
)
from inferline.apps.logs.batch_settings import LogBatchSettings
from inferline.apps.logs.quality import QualityCheck, QualityReport, day_bounds
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.log_archive import LogArchive, LogReports


class LogBatch:
    """Runs a period's job and reads back what the jobs stored."""

    def __init__(
        self,
        archive: LogArchive,
        reports: LogReports,
        settings: LogBatchSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.archive = archive
        self.reports = reports
        self.settings = settings or LogBatchSettings()
        self.clock = clock
        self._quality = QualityCheck(archive, self.settings, clock)
        self._aggregation = HourlyAggregation(archive, reports)

    async def start(self) -> None:
        await self.archive.start()
        await self.reports.start()

    async def close(self) -> None:
        await self.reports.close()
        await self.archive.close()

    async def check_day(self, day: date, tenant: str | None = None) -> list[QualityReport]:
        """Check the day's lines (of `tenant`, else of each tenant that has some) and
        store each report, replacing an earlier one of the same day."""
        start, end = day_bounds(day)
        tenants = [tenant] if tenant else await self.archive.tenants(start, end, by="received_at")
        found = []
        for name in tenants:
            report = await self._quality.run(name, day)
            await self.reports.save_quality(
                name,
                day.isoformat(),
                report.passed,
                report.model_dump(mode="json"),
                at=self.clock.now(),
            )
            found.append(report)
        return found

    async def aggregate_hour(self, hour: float, tenant: str | None = None) -> list[HourAggregate]:
        """Count the hour's lines (of `tenant`, else of each tenant that has some) and
        store the counts in place of the hour's earlier ones."""
        tenants = (
            [tenant]
            if tenant
            else await self.archive.tenants(hour, hour + HOUR_SECONDS, by="timestamp")
        )
        return [await self._aggregation.run(name, hour) for name in tenants]

    async def quality_report(self, tenant: str, day: date | None = None) -> QualityReport | None:
        """The stored report of `day`, or of the latest day checked."""
        stored = (
            await self.reports.quality(tenant, day.isoformat())
            if day is not None
            else await self.reports.latest_quality(tenant)
        )
        return None if stored is None else QualityReport.model_validate(stored)

    async def hourly(self, tenant: str, start: float, end: float) -> list[HourCount]:
        """The stored counts of the hours starting in `[start, end)`."""
        rows = await self.reports.hourly(tenant, start, end)
        return [hour_count(row, row.hour) for row in rows]
