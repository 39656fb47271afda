"""The batch jobs' reports over HTTP (source S4): a day's data-quality report and the
hourly counts, of the caller's tenant (read scope: both are GETs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from inferline.api.deps import TenantDep
from inferline.api.errors import error_responses
from inferline.apps.logs.aggregation import HOUR_SECONDS, parse_hour
from inferline.apps.logs.batch import LogBatch
from inferline.apps.logs.quality import parse_day
from inferline.domain.errors import InvalidInput, NotFound, Unavailable

router = APIRouter(tags=["logs (source S4)"])
MAX_RANGE_HOURS = 31 * 24
DEFAULT_RANGE_HOURS = 24
EARLIEST = 31 * 24 * 3600.0  # a range's start (a month before `until`) stays after 1970
LATEST = datetime(9998, 12, 31, tzinfo=UTC).timestamp()


async def get_log_batch(request: Request) -> LogBatch:
    """Dependency: the log batch jobs of this process."""
    app = getattr(request.app.state, "logs_batch", None)
    if app is None:
        raise Unavailable("the log batch jobs are not running in this process", retry_after=1)
    batch: LogBatch = app.batch
    return batch


LogBatchDep = Annotated[LogBatch, Depends(get_log_batch)]


def _field_error(name: str, exc: ValueError) -> InvalidInput:
    return InvalidInput(str(exc), details=[{"field": name, "message": str(exc)}])


def _moment(name: str, text: str) -> float:
    """An ISO 8601 time (UTC when it names no zone) from 1970 to 9998, as UNIX seconds."""
    problem = ValueError(f"{name}: not a time from 1970 on: {text!r} (e.g. 2026-12-03T14:00Z)")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    except (ValueError, OverflowError):
        raise _field_error(name, problem) from None
    if not EARLIEST <= seconds <= LATEST:
        raise _field_error(name, problem)
    return seconds


@router.get(
    "/api/v1/logs/reports/quality",
    summary="A day's data-quality report (the latest checked day without `date`)",
    responses=error_responses(404, 422, 503),
)
async def quality_report(
    tenant: TenantDep,
    batch: LogBatchDep,
    date: Annotated[
        str | None, Query(max_length=10, description="The UTC day, YYYY-MM-DD.")
    ] = None,
) -> Any:
    day = None
    if date is not None:
        try:
            day = parse_day(date)
        except ValueError as exc:
            raise _field_error("date", exc) from None
    report = await batch.quality_report(tenant, day)
    if report is None:
        what = f"of {date}" if date else "yet"
        raise NotFound(f"no log quality report {what} for this tenant")
    return report.model_dump(mode="json")


@router.get(
    "/api/v1/logs/reports/aggregates",
    summary="Hourly line counts by service, level and template: one `hour`, or the hours "
    "starting in [`since`, `until`) (default: the last 24 hours)",
    responses=error_responses(422, 503),
)
async def aggregates(
    tenant: TenantDep,
    batch: LogBatchDep,
    hour: Annotated[
        str | None, Query(max_length=13, description="One UTC hour, YYYY-MM-DDTHH.")
    ] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO 8601 time.")] = None,
    until: Annotated[str | None, Query(max_length=40, description="ISO 8601 time.")] = None,
) -> Any:
    if hour is not None:
        if since is not None or until is not None:
            raise InvalidInput(
                "give either hour or since/until, not both",
                details=[{"field": "hour", "message": "not with since or until"}],
            )
        try:
            start = parse_hour(hour)
        except ValueError as exc:
            raise _field_error("hour", exc) from None
        end = start + HOUR_SECONDS
    else:
        now = datetime.now(UTC)
        end = _moment("until", until) if until else now.timestamp()
        start = (
            _moment("since", since)
            if since
            else end - timedelta(hours=DEFAULT_RANGE_HOURS).total_seconds()
        )
        if end <= start:
            raise InvalidInput(
                "until must be after since",
                details=[{"field": "until", "message": "not after since"}],
            )
        if end - start > MAX_RANGE_HOURS * HOUR_SECONDS:
            raise InvalidInput(
                f"at most {MAX_RANGE_HOURS} hours at a time",
                details=[{"field": "since", "message": f"at most {MAX_RANGE_HOURS} hours"}],
            )
    counts = await batch.hourly(tenant, start, end)
    return {
        "tenant": tenant,
        "since": datetime.fromtimestamp(start, UTC).isoformat(),
        "until": datetime.fromtimestamp(end, UTC).isoformat(),
        "counts": [c.model_dump(mode="json") for c in counts],
    }
