"""The data-quality check of a day's archived lines: a pandera schema over each chunk.

The day is the lines *received* that UTC day, read in received order a chunk at a time
(`INFERLINE_LOGS_QUALITY_CHUNK_ROWS`; memory stays bounded however many millions the day
holds). Each chunk becomes a DataFrame that one pandera schema validates lazily; the
failure cases it returns are counted per check, and the first few failing lines kept as
examples. What spans chunks is carried between them: the latest timestamp seen of each
service (for the order check), and the duplicate rate is asked of the archive (the
database counts distinct fingerprints over the whole day).

Checks, each with its observed value and threshold (`batch_settings.py`):
- completeness: required fields (timestamp, service, level, message) present and not
  blank; also the share of lines with a trace id (a minimum, 0 by default: reported);
- level_domain: the level is one of `Level`'s names;
- service_domain: the service matches the name pattern (and the allowed list, if set);
- timestamp_order: lines older than an earlier-received line of their service by more
  than the tolerance (replicas interleave by milliseconds);
- timestamp_in_day: timestamps inside the day, give or take the skew;
- duplicate_rate: lines identical to an earlier one (same fingerprint).

The pandas part (schema, frames, the tally across chunks) is `quality_frame.py`, loaded
when a check runs.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from inferline.apps.logs.batch_settings import LogBatchSettings
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.log_archive import ArchivedRecord, DuplicateStats, LogArchive

EXAMPLES = 5
EXAMPLE_MESSAGE_CHARS = 200
DAY_SECONDS = 86_400.0

COMPLETENESS = "completeness"
TRACE_IDS = "trace_ids"
LEVEL_DOMAIN = "level_domain"
SERVICE_DOMAIN = "service_domain"
TIMESTAMP_ORDER = "timestamp_order"
TIMESTAMP_IN_DAY = "timestamp_in_day"
DUPLICATE_RATE = "duplicate_rate"


class CheckResult(BaseModel):
    """One check of a day: what was observed against what is allowed."""

    name: str
    passed: bool
    observed: float = Field(description="The share of lines (0 to 1) the check measures.")
    threshold: float
    comparison: Literal["at most", "at least"]
    failing: int = Field(description="Lines that failed the check.")
    examples: list[dict[str, Any]] = Field(default_factory=list, max_length=EXAMPLES)
    description: str


class QualityReport(BaseModel):
    """The quality of one tenant's lines received on one UTC day."""

    date: date
    tenant: str
    records_checked: int
    passed: bool
    checks: list[CheckResult]
    checked_at: datetime


def day_bounds(day: date) -> tuple[float, float]:
    """The UTC day as [start, end) UNIX seconds."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    return start, start + DAY_SECONDS


def example(record: ArchivedRecord, reason: str) -> dict[str, Any]:
    """A failing line as a report shows it (the message cut short)."""
    return {
        "seq": record.seq,
        "timestamp": datetime.fromtimestamp(record.timestamp, UTC).isoformat(),
        "service": record.service,
        "level": record.level,
        "message": record.message[:EXAMPLE_MESSAGE_CHARS],
        "reason": reason,
    }


def duplicate_check(stats: DuplicateStats, threshold: float) -> CheckResult:
    """The duplicate rate: lines identical to an earlier one, over all lines."""
    observed = stats.duplicates / stats.records if stats.records else 0.0
    return CheckResult(
        name=DUPLICATE_RATE,
        passed=stats.records == 0 or observed <= threshold,
        observed=round(observed, 6),
        threshold=threshold,
        comparison="at most",
        failing=stats.duplicates,
        examples=[example(record, f"{times} identical lines") for record, times in stats.examples],
        description="lines identical (time, origin, level, text, trace) to an earlier one",
    )


class QualityCheck:
    """Runs the check of a day over the archive."""

    def __init__(
        self, archive: LogArchive, settings: LogBatchSettings, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.archive = archive
        self.settings = settings
        self.clock = clock

    async def run(self, tenant: str, day: date) -> QualityReport:
        # pandas and pandera load here, when a check runs, not with every process
        from inferline.apps.logs.quality_frame import DayTally

        start, end = day_bounds(day)
        tally = DayTally(self.settings, start, end)
        async for chunk in self.archive.chunks(
            tenant, start, end, by="received_at", size=self.settings.quality_chunk_rows
        ):
            tally.add(chunk)
        duplicates = await self.archive.duplicates(
            tenant, start, end, by="received_at", examples=EXAMPLES
        )
        checks = tally.results(duplicates)
        return QualityReport(
            date=day,
            tenant=tenant,
            records_checked=tally.records,
            passed=all(c.passed for c in checks),
            checks=checks,
            checked_at=datetime.fromtimestamp(self.clock.now(), UTC),
        )


def parse_day(text: str) -> date:
    """A YYYY-MM-DD day; ValueError that says what is expected."""
    problem = ValueError(f"not a day: {text!r} (expected YYYY-MM-DD)")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise problem
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise problem from None
