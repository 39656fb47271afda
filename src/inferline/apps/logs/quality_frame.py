"""The pandas half of the data-quality check (`quality.py`): one pandera schema over a
chunk of a day's lines, and the tally of what failed across chunks. Imported only when a
check runs, so that pandas and pandera are not loaded by every process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from inferline.apps.logs.batch_settings import LogBatchSettings
from inferline.apps.logs.quality import (
    COMPLETENESS,
    EXAMPLES,
    LEVEL_DOMAIN,
    SERVICE_DOMAIN,
    TIMESTAMP_IN_DAY,
    TIMESTAMP_ORDER,
    TRACE_IDS,
    CheckResult,
    duplicate_check,
    example,
)
from inferline.apps.logs.records import Level
from inferline.ports.log_archive import ArchivedRecord, DuplicateStats

# pandera's own name for a null in a column that may not hold one
_PANDERA_TO_CHECK = {"not_nullable": COMPLETENESS}


def day_schema(settings: LogBatchSettings, start: float, end: float) -> pa.DataFrameSchema:
    """The pandera schema of one chunk of the day `[start, end)`."""

    def not_blank(series: pd.Series) -> pd.Series:
        return series.astype(str).str.strip().str.len() > 0

    service_checks = [
        pa.Check(not_blank, name=COMPLETENESS),
        pa.Check.str_matches(settings.service_pattern, name=SERVICE_DOMAIN),
    ]
    known = settings.services()
    if known:
        service_checks.append(pa.Check.isin(sorted(known), name=SERVICE_DOMAIN))
    skew = settings.day_skew_seconds
    return pa.DataFrameSchema(
        {
            "timestamp": pa.Column(
                float,
                nullable=False,
                checks=pa.Check.in_range(start - skew, end + skew, name=TIMESTAMP_IN_DAY),
            ),
            "service": pa.Column(None, nullable=False, checks=service_checks),
            "level": pa.Column(
                None,
                nullable=False,
                checks=[
                    pa.Check(not_blank, name=COMPLETENESS),
                    pa.Check.isin([level.value for level in Level], name=LEVEL_DOMAIN),
                ],
            ),
            "message": pa.Column(
                None, nullable=False, checks=pa.Check(not_blank, name=COMPLETENESS)
            ),
            "order_lag": pa.Column(
                float,
                checks=pa.Check.le(settings.order_tolerance_seconds, name=TIMESTAMP_ORDER),
            ),
        },
        coerce=False,
    )


def chunk_frame(records: Sequence[ArchivedRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "seq": [r.seq for r in records],
            "timestamp": np.array([r.timestamp for r in records], dtype=float),
            "service": [r.service for r in records],
            "level": [r.level for r in records],
            "message": [r.message for r in records],
            "trace_id": [r.trace_id for r in records],
        }
    )


@dataclass
class DayTally:
    """What the chunks of one day add up to; `add` each chunk in received order."""

    settings: LogBatchSettings
    start: float
    end: float
    records: int = 0
    with_trace: int = 0
    failing: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _latest: dict[str, float] = field(default_factory=dict)  # service → newest timestamp

    def __post_init__(self) -> None:
        self._schema = day_schema(self.settings, self.start, self.end)

    def add(self, records: Sequence[ArchivedRecord]) -> None:
        if not records:
            return
        frame = chunk_frame(records)
        frame["order_lag"] = self._order_lag(frame)
        self.records += len(frame)
        self.with_trace += int(frame["trace_id"].fillna("").astype(str).str.len().gt(0).sum())
        try:
            self._schema.validate(frame, lazy=True)
        except SchemaErrors as errors:
            self._count(errors.failure_cases, records)

    def _order_lag(self, frame: pd.DataFrame) -> pd.Series:
        """How much older each line is than the newest earlier-received line of its
        service (0 when it is not older), carrying each service's newest across chunks."""
        services = frame["service"]
        newest = frame.groupby(services, dropna=True)["timestamp"].cummax()
        before = newest.groupby(services, dropna=True).shift(1)
        carried = services.map(self._latest).astype(float)
        before = np.fmax(before.astype(float), carried)
        for service, latest in frame.groupby(services, dropna=True)["timestamp"].max().items():
            key = str(service)
            self._latest[key] = max(self._latest.get(key, latest), float(latest))
        return (before - frame["timestamp"]).fillna(0.0).clip(lower=0.0)

    def _count(self, cases: pd.DataFrame, records: Sequence[ArchivedRecord]) -> None:
        cases = cases[cases["index"].notna()]
        named = [
            self._check_name(column, check, number)
            for column, check, number in zip(
                cases["column"], cases["check"], cases["check_number"], strict=True
            )
        ]
        for check, group in cases.groupby(pd.Series(named, index=cases.index)):
            rows = sorted({int(i) for i in group["index"]})
            self.failing[str(check)] = self.failing.get(str(check), 0) + len(rows)
            kept = self.examples.setdefault(str(check), [])
            for row in rows[: EXAMPLES - len(kept)]:
                first = group[group["index"] == row].iloc[0]
                reason = f"{first['column']}: {first['failure_case']!r}"
                kept.append(example(records[row], reason))

    def _check_name(self, column: object, check: object, number: object) -> str:
        """Our name of a failed pandera check (its failure cases name a built-in check
        by its arguments, so the check is found by its position in the column)."""
        if str(check) in _PANDERA_TO_CHECK:
            return _PANDERA_TO_CHECK[str(check)]
        if isinstance(number, int | float) and not pd.isna(number):
            found = self._schema.columns[str(column)].checks[int(number)].name
            return str(found)
        return str(check)

    def results(self, duplicates: DuplicateStats) -> list[CheckResult]:
        s = self.settings
        pattern = s.service_pattern + (
            " among INFERLINE_LOGS_KNOWN_SERVICES" if s.services() else ""
        )
        return [
            self._result(
                COMPLETENESS,
                s.max_incomplete_share,
                "timestamp, service, level and message present and not blank",
            ),
            self._share(
                TRACE_IDS,
                self.with_trace,
                s.min_trace_share,
                "at least",
                "lines that carry a trace id",
            ),
            self._result(LEVEL_DOMAIN, s.max_bad_level_share, f"level one of {', '.join(Level)}"),
            self._result(SERVICE_DOMAIN, s.max_bad_service_share, f"service matches {pattern}"),
            self._result(
                TIMESTAMP_ORDER,
                s.max_out_of_order_share,
                "lines older than an earlier-received line of their service by more than "
                f"{s.order_tolerance_seconds:g} s",
            ),
            self._result(
                TIMESTAMP_IN_DAY,
                s.max_outside_day_share,
                f"timestamps in the day, give or take {s.day_skew_seconds:g} s",
            ),
            duplicate_check(duplicates, s.max_duplicate_share),
        ]

    def _result(self, name: str, threshold: float, description: str) -> CheckResult:
        failing = self.failing.get(name, 0)
        observed = failing / self.records if self.records else 0.0
        return CheckResult(
            name=name,
            passed=self.records == 0 or observed <= threshold,
            observed=round(observed, 6),
            threshold=threshold,
            comparison="at most",
            failing=failing,
            examples=self.examples.get(name, []),
            description=description,
        )

    def _share(
        self,
        name: str,
        count: int,
        threshold: float,
        comparison: Literal["at most", "at least"],
        description: str,
    ) -> CheckResult:
        observed = count / self.records if self.records else 0.0
        fine = observed >= threshold if comparison == "at least" else observed <= threshold
        return CheckResult(
            name=name,
            passed=self.records == 0 or fine,
            observed=round(observed, 6),
            threshold=threshold,
            comparison=comparison,
            failing=self.records - count if comparison == "at least" else count,
            description=description,
        )
