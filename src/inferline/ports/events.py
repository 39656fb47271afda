"""The event bus port: job events fan out to every interested process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from inferline.domain.jobs import JobEvent


class EventBus(Protocol):
    """Publish job events; subscribe to all of them."""

    async def start(self) -> None:
        """Connect."""

    async def close(self) -> None:
        """Disconnect; end every subscription."""

    async def publish(self, events: list[JobEvent]) -> None:
        """Publish events in order (at least once)."""

    def subscribe(self) -> AsyncIterator[JobEvent]:
        """Events published from now on, until the bus closes or the consumer stops."""
        ...
