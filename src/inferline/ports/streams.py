"""The stream ports: records come in from a topic, results and dead letters go out to topics.

A stream route (`inferline consume`, `INFERLINE_STREAM_ROUTES`) turns each record of
an input topic into a job of a model. Kafka and Redis Streams implement both ports;
topic names here are the route's, without a deployment's prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One record read from an input topic."""

    topic: str
    partition: int
    position: str
    """Where the record is in its partition: a Kafka offset, or a Redis Stream entry id."""
    key: str | None
    value: bytes


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to write to an output or dead-letter topic."""

    topic: str
    key: str | None
    value: bytes


class StreamSource(Protocol):
    """The records of one input topic, read as one consumer group; committed when done."""

    async def start(self) -> None:
        """Connect (raises while the broker is unreachable)."""

    async def close(self) -> None:
        """Stop reading; what was committed stays committed."""

    async def read(self, count: int, block_seconds: float) -> list[StreamRecord]:
        """Up to `count` records not handed out before, waiting up to `block_seconds`.
        The database's embedded stream hands out whole chunks (as many records as one
        send wrote, up to a bound): at least one, so it may return less than a chunk more
        than `count`."""

    async def commit(self, records: list[StreamRecord]) -> None:
        """These records are processed (their jobs stored, or dead-lettered)."""

    async def lag(self) -> dict[int, int]:
        """Per partition, how many records are not processed yet."""


class StreamSink(Protocol):
    """Writes records to topics; returns once the broker acknowledged them."""

    async def start(self) -> None:
        """Connect (raises while the broker is unreachable)."""

    async def close(self) -> None:
        """Disconnect."""

    async def send(self, records: list[OutRecord]) -> None:
        """Write every record (at least once); raise unless all are acknowledged."""
