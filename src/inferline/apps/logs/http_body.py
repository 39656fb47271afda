"""The body of `POST /api/v1/logs` as Fluent Bit's `http` output sends it: `format json`
(a JSON array of maps), `json_lines` (one map per line), or a single JSON object;
optionally gzip-compressed (`compress gzip`).

Fluent Bit puts each record's time under `json_date_key` (`date` by default), as epoch
seconds or ISO 8601 text: it becomes the record's event time (used when the record has
no time of its own). A record with neither (a client's own JSON, or Fluent Bit with
`json_date_key false`) is taken as of the time it was received. A body that is not
JSON is refused whole, naming the line; a JSON value that is not a map is a dead letter
like any other invalid record.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from inferline.apps.logs.ingest import Incoming, Problem
from inferline.apps.logs.records import normalise_time
from inferline.domain.errors import InvalidInput, PayloadTooLarge

JSON_TYPES = ("application/json",)
LINES_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")
CONTENT_TYPES = JSON_TYPES + LINES_TYPES


def media_type(header: str | None) -> str:
    """`application/json` of `application/json; charset=utf-8`; refuses the others."""
    kind = (header or "").split(";", 1)[0].strip().lower()
    if kind not in CONTENT_TYPES:
        raise InvalidInput(
            f"Content-Type {header or '(none)'!r} is not supported: send "
            f"{', '.join(CONTENT_TYPES)}",
            details=[{"field": "Content-Type", "message": f"one of {', '.join(CONTENT_TYPES)}"}],
        )
    return kind


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its Content-Encoding (gzip, or none), at most `limit` bytes."""
    name = (encoding or "identity").strip().lower()
    if name in ("identity", ""):
        return body
    if name not in ("gzip", "x-gzip"):
        raise InvalidInput(
            f"Content-Encoding {encoding!r} is not supported (gzip or none)",
            details=[{"field": "Content-Encoding", "message": "gzip or identity"}],
        )
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(
            f"the body is not gzip: {exc}", details=[{"field": "body", "message": "not gzip"}]
        ) from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise too_large(limit)
    return data


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the log body is over the limit of {limit} bytes (INFERLINE_LOGS_MAX_BODY_BYTES)",
        details={"limit_bytes": limit},
    )


def parse_body(
    body: bytes, kind: str, *, date_key: str, received: float | None = None
) -> list[Incoming]:
    """Every map of the body, with its event time (its date key, else `received`);
    raises `InvalidInput` naming the line of the first thing that is not JSON."""
    text = _text(body)
    if kind in JSON_TYPES:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            hint = " (one JSON document; send one object per line as application/x-ndjson)"
            extra = hint if exc.msg == "Extra data" else ""
            raise _not_json(exc.lineno, f"{exc.msg} at column {exc.colno}{extra}") from None
        values = document if isinstance(document, list) else [document]
        if not isinstance(document, list | dict):
            raise InvalidInput(
                "the body is a JSON array of log records or one record (an object), not "
                f"{type(document).__name__}",
                details=[{"field": "body", "message": "an array or an object"}],
            )
    else:
        values = []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise _not_json(number, f"{exc.msg} at column {exc.colno}") from None
    return [incoming(value, date_key, received) for value in values]


def incoming(value: Any, date_key: str, received: float | None = None) -> Incoming:
    """One JSON value as a record to validate, its date key (else `received`) taken as
    the event time."""
    if not isinstance(value, dict) or date_key not in value:
        return Incoming(value, event_time=received)
    fields = dict(value)
    date = fields.pop(date_key)
    try:
        when = normalise_time(date)
    except (ValueError, OverflowError, OSError) as exc:
        problem = Problem(f"{date_key}: {exc}", "bad_event_time")
        return Incoming(fields, problem=problem, original=value)
    return Incoming(fields, event_time=when, original=value)


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise _not_json(line, f"not UTF-8 at byte {exc.start}") from None


def _not_json(line: int, message: str) -> InvalidInput:
    return InvalidInput(
        f"the body is not JSON at line {line}: {message}",
        details=[{"field": "body", "line": line, "message": message}],
    )
