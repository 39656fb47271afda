"""Idempotent consumers of domain events: each event applied once per consumer.

The dispatcher sends at least once (a crash between send and mark sends a batch
again), so a consumer deduplicates by the event's id:

    consumer = IdempotentConsumer("rec-cache", seen, invalidate_recommendations)
    for record in await source.read(100, 1.0):             # a StreamSource of the topic
        outcome = await consumer.record(record)             # APPLIED | DUPLICATE | BUSY
    await source.commit([r for r, o in ... if o is not Delivery.BUSY])

`handle(event)` runs only for the first delivery of an event id; a duplicate is
skipped (and may be acknowledged); a delivery that arrives while another one is
being applied is `BUSY` (do not acknowledge it: it comes again, and by then the
first one is done, or it ran out and this one applies it). When `handle` raises, the
mark is forgotten and the error propagates: the next delivery tries again.

What "once" covers: the mark is written after `handle` returns. A consumer that dies
inside `handle` leaves a `processing` mark that runs out after `processing_seconds`,
and the redelivery applies the event again — so `handle`'s effect should itself be
safe to repeat when it was half done (an upsert, a cache invalidation). When the effect
is a write to a database, put the mark in that write's transaction instead (a table
keyed by consumer and event id) and the effect is exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from enum import StrEnum

from inferline.domain.domain_events import DomainEvent
from inferline.domain.errors import InvalidInput
from inferline.ports.dedupe import ProcessedEvents, Seen
from inferline.ports.streams import StreamRecord


class Delivery(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    BUSY = "busy"


class IdempotentConsumer:
    """Applies each domain event once for consumer `name` (see the module)."""

    def __init__(
        self,
        name: str,
        seen: ProcessedEvents,
        handle: Callable[[DomainEvent], Awaitable[None]],
        *,
        processing_seconds: float = 60.0,
        retention_seconds: float = 7 * 24 * 3600,
    ) -> None:
        self.name = name
        self.seen = seen
        self.handle = handle
        self.processing_seconds = processing_seconds
        self.retention_seconds = retention_seconds
        self.applied = 0
        self.duplicates = 0

    async def __call__(self, event: DomainEvent) -> Delivery:
        state = await self.seen.begin(self.name, event.id, self.processing_seconds)
        if state is Seen.DONE:
            self.duplicates += 1
            return Delivery.DUPLICATE
        if state is Seen.PROCESSING:
            return Delivery.BUSY
        try:
            await self.handle(event)
        except BaseException:
            await self.seen.forget(self.name, event.id)
            raise
        await self.seen.done(self.name, event.id, self.retention_seconds)
        self.applied += 1
        return Delivery.APPLIED

    async def record(self, record: StreamRecord) -> Delivery:
        """A stream record carrying a domain event (the dispatcher's JSON value)."""
        return await self.record_value(record.value)

    async def record_value(self, value: bytes) -> Delivery:
        """A record's value: the dispatcher's JSON of a domain event."""
        return await self(event_from_record(value))


def event_from_record(value: bytes) -> DomainEvent:
    """The domain event in a record's value; `InvalidInput` when it is not one."""
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise InvalidInput(f"a domain event record is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("a domain event record is not a JSON object")
    return DomainEvent.from_json(data)
