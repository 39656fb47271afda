"""The quality checks of a day's lines on crafted records: each check fails on lines
that break it and passes on clean ones (pandera over chunks; state across chunks)."""

from __future__ import annotations

from datetime import date

import pytest

from inferline.apps.logs.batch_settings import LogBatchSettings
from inferline.apps.logs.quality import (
    COMPLETENESS,
    DUPLICATE_RATE,
    LEVEL_DOMAIN,
    SERVICE_DOMAIN,
    TIMESTAMP_IN_DAY,
    TIMESTAMP_ORDER,
    TRACE_IDS,
    CheckResult,
    day_bounds,
    duplicate_check,
    parse_day,
)
from inferline.apps.logs.quality_frame import DayTally
from inferline.ports.log_archive import ArchivedRecord, DuplicateStats

DAY = date(2026, 12, 2)
START, END = day_bounds(DAY)
NO_DUPLICATES = DuplicateStats(records=0, duplicates=0, examples=[])


def line(
    seq: int,
    *,
    at: float | None = None,
    service: str = "checkout",
    level: str = "INFO",
    message: str = "order placed",
    trace_id: str | None = "t1",
) -> ArchivedRecord:
    timestamp = START + 3600 + seq if at is None else at
    return ArchivedRecord(
        seq=seq,
        timestamp=timestamp,
        received_at=timestamp + 0.5,
        service=service,
        level=level,
        message=message,
        template_id=None,
        trace_id=trace_id,
        record_hash=f"h{seq}",
    )


def clean(count: int, first: int = 1) -> list[ArchivedRecord]:
    return [line(seq) for seq in range(first, first + count)]


def check(tally: DayTally, name: str) -> CheckResult:
    return next(c for c in tally.results(NO_DUPLICATES) if c.name == name)


def tally_of(*chunks: list[ArchivedRecord], **settings: object) -> DayTally:
    tally = DayTally(LogBatchSettings(**settings), START, END)  # type: ignore[arg-type]
    for chunk in chunks:
        tally.add(chunk)
    return tally


def test_clean_lines_pass_every_check() -> None:
    tally = tally_of(clean(50))
    results = tally.results(DuplicateStats(records=50, duplicates=0, examples=[]))
    assert tally.records == 50
    assert [(c.name, c.passed, c.failing) for c in results] == [
        (COMPLETENESS, True, 0),
        (TRACE_IDS, True, 0),
        (LEVEL_DOMAIN, True, 0),
        (SERVICE_DOMAIN, True, 0),
        (TIMESTAMP_ORDER, True, 0),
        (TIMESTAMP_IN_DAY, True, 0),
        (DUPLICATE_RATE, True, 0),
    ]
    assert check(tally, TRACE_IDS).observed == 1.0


def test_blank_required_fields_fail_completeness_with_examples() -> None:
    broken = [line(101, message="   "), line(102, service=""), line(103, level="")]
    tally = tally_of(clean(97), broken)
    result = check(tally, COMPLETENESS)
    assert not result.passed
    assert result.failing == 3
    assert result.observed == pytest.approx(0.03)
    assert [e["seq"] for e in result.examples] == [101, 102, 103]
    assert "message" in result.examples[0]["reason"]


def test_a_tolerated_share_of_incomplete_lines_passes() -> None:
    tally = tally_of(clean(99), [line(100, message="")], max_incomplete_share=0.05)
    assert check(tally, COMPLETENESS).passed


def test_trace_id_share_is_reported_and_can_be_required() -> None:
    lines = [*clean(3), line(4, trace_id=None)]
    assert check(tally_of(lines), TRACE_IDS).passed
    required = check(tally_of(lines, min_trace_share=0.9), TRACE_IDS)
    assert (required.passed, required.observed, required.failing) == (False, 0.75, 1)


def test_levels_outside_the_level_names_fail_the_level_domain() -> None:
    result = check(
        tally_of(clean(8), [line(9, level="VERBOSE"), line(10, level="info")]), LEVEL_DOMAIN
    )
    assert (result.passed, result.failing) == (False, 2)
    assert {e["level"] for e in result.examples} == {"VERBOSE", "info"}


def test_service_names_must_match_the_pattern_and_the_known_list() -> None:
    bad_name = check(tally_of(clean(5), [line(6, service="has space")]), SERVICE_DOMAIN)
    assert (bad_name.passed, bad_name.failing) == (False, 1)
    unknown = check(
        tally_of(clean(5), [line(6, service="payments")], known_services="checkout, cart"),
        SERVICE_DOMAIN,
    )
    assert (unknown.passed, unknown.failing) == (False, 1)
    assert unknown.examples[0]["service"] == "payments"
    known = check(tally_of(clean(5), known_services="checkout"), SERVICE_DOMAIN)
    assert known.passed


def test_lines_older_than_an_earlier_received_line_of_their_service_are_out_of_order() -> None:
    base = START + 7200
    first_chunk = [line(1, at=base), line(2, at=base + 10), line(3, at=base + 9.5)]
    # the next chunk goes back 60 s for checkout (out of order across chunks), while
    # another service's earlier times are its own and in order
    second_chunk = [line(4, at=base - 50), line(5, at=base - 100, service="cart")]
    result = check(tally_of(first_chunk, second_chunk), TIMESTAMP_ORDER)
    assert (result.passed, result.failing) == (False, 1)  # 0.5 s late is within tolerance
    assert result.examples[0]["seq"] == 4
    assert result.observed == pytest.approx(0.2)


def test_a_small_share_out_of_order_passes_the_default_threshold() -> None:
    lines = [*clean(200), line(201, at=START + 10)]
    assert check(tally_of(lines), TIMESTAMP_ORDER).passed


def test_timestamps_outside_the_day_beyond_the_skew_fail() -> None:
    lines = [
        *clean(10),
        line(11, at=START - 3600),
        line(12, at=END + 3600),
        line(13, at=END + 60),
    ]
    result = check(tally_of(lines), TIMESTAMP_IN_DAY)
    assert (result.passed, result.failing) == (False, 2)  # END + 60 s is within the skew
    assert sorted(e["seq"] for e in result.examples) == [11, 12]


def test_duplicate_rate_against_its_threshold() -> None:
    sample = line(1)
    failing = duplicate_check(
        DuplicateStats(records=100, duplicates=5, examples=[(sample, 6)]), 0.01
    )
    assert (failing.passed, failing.observed, failing.failing) == (False, 0.05, 5)
    assert failing.examples[0]["reason"] == "6 identical lines"
    assert duplicate_check(DuplicateStats(records=1000, duplicates=5, examples=[]), 0.01).passed


def test_no_lines_pass_with_nothing_observed() -> None:
    results = tally_of(min_trace_share=0.5).results(NO_DUPLICATES)
    assert all(c.passed and c.observed == 0.0 for c in results)


def test_examples_stop_at_five() -> None:
    broken = [line(seq, level="NOPE") for seq in range(1, 21)]
    result = check(tally_of(broken[:10], broken[10:]), LEVEL_DOMAIN)
    assert result.failing == 20
    assert [e["seq"] for e in result.examples] == [1, 2, 3, 4, 5]


def test_days_are_read_strictly() -> None:
    assert parse_day("2026-12-02") == DAY
    for bad in ("2026-12-2", "yesterday", "2026-13-01"):
        with pytest.raises(ValueError, match="expected YYYY-MM-DD"):
            parse_day(bad)
