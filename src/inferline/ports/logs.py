"""The log ingest's ports: where records that fail validation are kept (dead letters).

A dead letter is never dropped: it keeps the reason, the original bytes (the msgpack or
JSON of the map, cut to a bounded size; `raw_size` is the full size), where it came
from (`forward` or `http`), its tag and when it arrived, under the tenant it came in for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record that could not become a `LogRecord`."""

    tenant: str
    source: str
    tag: str | None
    reason: str
    reason_class: str
    """A short, bounded name of the kind of problem (e.g. `missing`, `malformed_frame`),
    for metrics and filtering; `reason` has the full text."""
    raw: bytes
    raw_size: int
    received_at: float
    id: int | None = None
    """Given by the store; newer letters have larger ids."""


@dataclass(frozen=True, slots=True)
class DeadLetterPage:
    """Newest first; `next_cursor` continues with older ones (None: no more)."""

    letters: list[DeadLetter]
    next_cursor: str | None


class DeadLetterStore(Protocol):
    """The dead letters of every tenant."""

    async def start(self) -> None:
        """Connect (and bring the schema up to date)."""

    async def close(self) -> None:
        """Disconnect."""

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        """Keep these letters (all or none)."""

    async def page(self, tenant: str, *, limit: int, cursor: str | None) -> DeadLetterPage:
        """The tenant's letters, newest first, `limit` at a time, after `cursor` (a
        `next_cursor` this store gave out; raises `InvalidInput` for any other)."""

    async def count(self, tenant: str) -> int:
        """How many letters the tenant has."""
