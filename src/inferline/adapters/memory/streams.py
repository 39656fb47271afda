"""Domain events in one process (embedded mode, no broker): a `StreamSink` that hands
each record to this process's subscribers.

`send` calls every subscriber of the record's topic (or of every topic) and returns
when they have returned: their return is the acknowledgement, a raise fails the send
(the dispatcher retries it with backoff). Records nobody subscribed to are dropped:
there is nobody to tell. The last `keep` records per topic stay readable (`recent`),
for operators and tests.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

from inferline.ports.streams import OutRecord

Subscriber = Callable[[OutRecord], Awaitable[None]]


class InProcessStreamSink:
    """`StreamSink` delivering to in-process subscribers (see the module)."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self._subscribers: list[tuple[str | None, Subscriber]] = []
        self._recent: dict[str, deque[OutRecord]] = {}

    def subscribe(self, handler: Subscriber, topic: str | None = None) -> None:
        """Call `handler` with each record of `topic` (None: of every topic)."""
        self._subscribers.append((topic, handler))

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def send(self, records: list[OutRecord]) -> None:
        for record in records:
            for topic, handler in self._subscribers:
                if topic is None or topic == record.topic:
                    await handler(record)
            self._recent.setdefault(record.topic, deque(maxlen=self.keep)).append(record)

    def recent(self, topic: str) -> list[OutRecord]:
        return list(self._recent.get(topic, ()))
