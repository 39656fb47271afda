"""`LogIngest`: every incoming map is validated into a `LogRecord`; valid ones go to the
stream `logs.raw` (keyed by service), invalid ones to the dead-letter store with the
reason and their original bytes. Nothing is dropped: `accept` returns once both are
stored, so a caller may acknowledge the records (Forward's `ack`, HTTP's 202) then.

The Forward protocol server and `POST /api/v1/logs` both call it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgpack
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from inferline.apps.logs.metrics import LogsMetrics
from inferline.apps.logs.records import LogRecord
from inferline.ports.logs import DeadLetter, DeadLetterStore
from inferline.ports.streams import OutRecord, StreamSink

SOURCES = ("forward", "http")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a map cannot become a record, found before validation (a frame's entry that
    is not a map, an event time that is not a time)."""

    reason: str
    reason_class: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """One map as it arrived. `original`: what to keep as a dead letter's bytes when it
    differs from `fields` (HTTP's map before its date key was taken out)."""

    fields: Any
    tag: str | None = None
    event_time: float | datetime | None = None
    problem: Problem | None = None
    original: Any = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    dead_lettered: int


class LogIngest:
    """Validates, dead-letters and sends to the stream (see the module)."""

    def __init__(
        self,
        sink: StreamSink,
        dead_letters: DeadLetterStore,
        *,
        topic: str = "logs.raw",
        metrics: LogsMetrics | None = None,
        dead_letter_max_bytes: int = 64 * 1024,
        send_batch: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sink = sink
        self.dead_letters = dead_letters
        self.topic = topic
        self.metrics = metrics
        self.dead_letter_max_bytes = dead_letter_max_bytes
        self.send_batch = send_batch
        self.clock = clock

    async def accept(
        self,
        maps: Sequence[Any],
        *,
        source: str,
        tag: str | None,
        tenant: str,
        event_times: Sequence[float | datetime | None] | None = None,
    ) -> IngestResult:
        """Each map (with its event time, when given) validated, then sent or dead-lettered."""
        if event_times is not None and len(event_times) != len(maps):
            raise ValueError(f"{len(maps)} maps but {len(event_times)} event times")
        times = event_times if event_times is not None else [None] * len(maps)
        items = [Incoming(m, tag, t) for m, t in zip(maps, times, strict=True)]
        return await self.accept_incoming(items, source=source, tenant=tenant)

    async def accept_incoming(
        self, items: Sequence[Incoming], *, source: str, tenant: str
    ) -> IngestResult:
        """`accept` for maps that each carry their own tag, time or known problem."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
        out: list[OutRecord] = []
        letters: list[DeadLetter] = []
        now = self.clock()
        for item in items:
            outcome = self._validate(item, tenant)
            if isinstance(outcome, Problem):
                letters.append(self._letter(item, outcome, source, tenant, now))
            else:
                out.append(outcome)
        await self.dead_letters.add(letters)
        for start in range(0, len(out), self.send_batch):
            await self.sink.send(out[start : start + self.send_batch])
        if self.metrics is not None:
            self.metrics.accepted.labels(source).inc(len(out))
            for letter in letters:
                self.metrics.dead_lettered.labels(source, letter.reason_class).inc()
        return IngestResult(len(out), len(letters))

    def _validate(self, item: Incoming, tenant: str) -> OutRecord | Problem:
        if item.problem is not None:
            return item.problem
        if not isinstance(item.fields, dict):
            kind = type(item.fields).__name__
            return Problem(f"a log record is a map of fields, not {kind}", "not_a_map")
        try:
            record = LogRecord.from_collector(
                item.fields, tag=item.tag, event_time=item.event_time, tenant=tenant
            )
            value = record.model_dump_json().encode()
        except ValidationError as exc:
            return Problem(str(exc), reason_class(exc))
        except (PydanticSerializationError, UnicodeError) as exc:
            return Problem(f"the record cannot be encoded as JSON: {exc}", "not_encodable")
        except (ValueError, TypeError, OverflowError, OSError) as exc:  # e.g. a time past 9999
            return Problem(f"{type(exc).__name__}: {exc}", "invalid_value")
        return OutRecord(self.topic, record.service, value)

    def _letter(
        self, item: Incoming, problem: Problem, source: str, tenant: str, now: float
    ) -> DeadLetter:
        raw = original_bytes(item.original if item.original is not None else item.fields, source)
        return DeadLetter(
            tenant=tenant,
            source=source,
            tag=printable(item.tag) if item.tag is not None else None,
            reason=printable(problem.reason),
            reason_class=problem.reason_class,
            raw=raw[: self.dead_letter_max_bytes],
            raw_size=len(raw),
            received_at=now,
        )


def printable(text: str) -> str:
    """`text` with what is not UTF-8 (bytes kept as surrogates) replaced, for storing."""
    return text.encode("utf-8", "replace").decode("utf-8")


def reason_class(exc: ValidationError) -> str:
    """The first error's kind: `missing` for a field the record lacks (its aliases
    resolved to nothing), else pydantic's error type (`string_too_long`, ...)."""
    first = exc.errors(include_url=False)[0]
    if first.get("type") == "missing" or first.get("input", "") is None:
        return "missing"
    return str(first.get("type", "invalid"))


def original_bytes(value: Any, source: str) -> bytes:
    """The map as its source encoded it: msgpack for the Forward protocol, else JSON.
    Bytes are kept as they are (what is left of a frame that could not be read)."""
    if isinstance(value, bytes):
        return value
    try:
        if source == "forward":
            packed: bytes = msgpack.packb(value, default=repr, unicode_errors="surrogateescape")
            return packed
        return json.dumps(value, ensure_ascii=False, default=repr).encode("utf-8", "replace")
    except (ValueError, TypeError, OverflowError):
        return repr(value).encode("utf-8", "replace")
