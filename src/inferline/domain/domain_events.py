"""Domain events: facts an app's state change announces, saved in the same transaction.

A `DomainEvent` (`conv-msg-created`, `user-preference-updated`, `order-placed`, …)
is written to the `domain_outbox` table by the adapter that makes the change, with
the change's own connection, before it commits (see
`inferline.ports.domain_events.DomainEventAppender`). The dispatcher sends it to the
event stream afterwards, at least once; consumers deduplicate by `id`.

Pure Python, no I/O. The time is the caller's: pass `at=` from an injected clock
(`at=None` reads the system clock, for callers that have none).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from inferline.domain.errors import InvalidInput

# A type becomes part of a topic name (Kafka: [A-Za-z0-9._-], at most 249 characters).
EVENT_TYPE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
MAX_KEY_LENGTH = 255
MAX_TENANT_LENGTH = 64
MAX_PAYLOAD_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One fact, sent once or more to the stream under `type`, partitioned by `key`.

    `id` (32 hex digits, a UUID4) is the idempotency key consumers deduplicate by;
    `occurred_at` is UNIX seconds, as every Inferline time.
    """

    id: str
    type: str
    key: str
    payload: dict[str, Any] = field(hash=False)
    tenant: str
    occurred_at: float

    def __post_init__(self) -> None:
        problems = event_problems(self)
        if problems:
            raise InvalidInput(
                "invalid domain event: " + "; ".join(problems),
                details={"event_type": self.type, "problems": problems},
            )

    @classmethod
    def new(
        cls,
        type: str,
        key: str,
        payload: dict[str, Any],
        tenant: str,
        at: float | None = None,
    ) -> DomainEvent:
        """A new event with a fresh id; `at` from the caller's clock (default: now)."""
        return cls(
            id=uuid.uuid4().hex,
            type=type,
            key=key,
            payload=payload,
            tenant=tenant,
            occurred_at=time.time() if at is None else at,
        )

    def to_json(self) -> dict[str, Any]:
        """The event as the stream carries it (the record's value, JSON)."""
        return {
            "id": self.id,
            "type": self.type,
            "key": self.key,
            "tenant": self.tenant,
            "occurred_at": self.occurred_at,
            "payload": self.payload,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DomainEvent:
        """The event back from a record's JSON value (`to_json`'s shape)."""
        try:
            return cls(
                id=str(value["id"]),
                type=str(value["type"]),
                key=str(value["key"]),
                payload=dict(value["payload"]),
                tenant=str(value["tenant"]),
                occurred_at=float(value["occurred_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"not a domain event: {exc!r}") from exc


def event_problems(event: DomainEvent) -> list[str]:
    """What is wrong with an event (empty when nothing)."""
    problems: list[str] = []
    if not (len(event.id) == 32 and all(c in "0123456789abcdef" for c in event.id)):
        problems.append(f"id {event.id!r} is not 32 lowercase hex digits")
    if not EVENT_TYPE_PATTERN.match(event.type):
        problems.append(
            f"type {event.type!r} must be 1-100 characters of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )
    if not event.key or len(event.key) > MAX_KEY_LENGTH:
        problems.append(f"key must be 1-{MAX_KEY_LENGTH} characters")
    if not event.tenant or len(event.tenant) > MAX_TENANT_LENGTH:
        problems.append(f"tenant must be 1-{MAX_TENANT_LENGTH} characters")
    if not isinstance(event.payload, dict):
        problems.append("payload must be a JSON object")
    else:
        try:
            size = len(json.dumps(event.payload, allow_nan=False).encode())
        except (TypeError, ValueError) as exc:
            problems.append(f"payload is not JSON: {exc}")
        else:
            if size > MAX_PAYLOAD_BYTES:
                problems.append(f"payload is {size} bytes, over {MAX_PAYLOAD_BYTES}")
    return problems
