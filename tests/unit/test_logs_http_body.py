"""`POST /api/v1/logs` bodies as Fluent Bit's `http` output sends them: `json` (an array),
`json_lines`, one object; the `date` key as the event time; gzip within the limit; what
is not JSON refused naming its line."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from inferline.apps.logs.http_body import decompress, media_type, parse_body
from inferline.domain.errors import InvalidInput, PayloadTooLarge


def test_a_json_array_with_fluent_bits_date_key() -> None:
    body = b'[{"date": 1764000000.25, "log": "a"}, {"date": "2025-11-24T16:00:00Z", "log": "b"}]'
    first, second = parse_body(body, "application/json", date_key="date")
    assert first.fields == {"log": "a"} and first.original == {"date": 1764000000.25, "log": "a"}
    assert first.event_time == datetime(2025, 11, 24, 16, 0, 0, 250000, tzinfo=UTC)
    assert second.event_time == datetime(2025, 11, 24, 16, 0, tzinfo=UTC)


def test_one_object_and_json_lines_with_blank_lines() -> None:
    (one,) = parse_body(b'{"log": "x"}', "application/json", date_key="date", received=7.5)
    assert one.fields == {"log": "x"} and one.event_time == 7.5
    lines = parse_body(
        b'{"log": 1}\n\n{"log": 2}\r\n[3]\n', "application/x-ndjson", date_key="date"
    )
    assert [i.fields for i in lines] == [{"log": 1}, {"log": 2}, [3]]


def test_a_date_that_is_not_a_time_is_a_problem_of_that_record() -> None:
    (item,) = parse_body(b'[{"date": "soon", "log": "x"}]', "application/json", date_key="date")
    assert item.problem is not None and item.problem.reason_class == "bad_event_time"
    assert item.original == {"date": "soon", "log": "x"}


@pytest.mark.parametrize(
    ("body", "kind", "line"),
    [
        (b'{"log": 1}\n{"log": \n', "application/x-ndjson", 2),
        (b'[{"log": 1},\n{"log" 2}]', "application/json", 2),
        (b'{"a": 1}\n{"b": 2}', "application/json", 2),
        (b'{"a": 1}\n\xff', "application/x-ndjson", 2),
    ],
)
def test_what_is_not_json_is_refused_naming_the_line(body: bytes, kind: str, line: int) -> None:
    with pytest.raises(InvalidInput, match=f"line {line}") as caught:
        parse_body(body, kind, date_key="date")
    assert caught.value.details[0]["line"] == line


def test_a_json_scalar_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not int"):
        parse_body(b"42", "application/json", date_key="date")


def test_content_types_and_encodings() -> None:
    assert media_type("application/json; charset=utf-8") == "application/json"
    assert media_type("application/jsonl") == "application/jsonl"
    with pytest.raises(InvalidInput, match="text/plain"):
        media_type("text/plain")
    assert decompress(gzip.compress(b"[]"), "gzip", 100) == b"[]"
    with pytest.raises(PayloadTooLarge, match="100 bytes"):
        decompress(gzip.compress(b" " * 101), "gzip", 100)
    with pytest.raises(InvalidInput, match="not gzip"):
        decompress(b"plain", "gzip", 100)
    with pytest.raises(InvalidInput, match="br"):
        decompress(b"x", "br", 100)
