"""Idempotent consumers' memory in one process (embedded mode): a dict with expiries."""

from __future__ import annotations

import time
from collections.abc import Callable

from inferline.ports.dedupe import Seen


class InProcessProcessedEvents:
    """`ProcessedEvents` for consumers in this process; expired marks are dropped lazily."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._marks: dict[tuple[str, str], tuple[Seen, float]] = {}

    def _current(self, key: tuple[str, str]) -> Seen | None:
        mark = self._marks.get(key)
        if mark is None:
            return None
        if mark[1] <= self._clock():
            del self._marks[key]
            return None
        return mark[0]

    async def begin(self, consumer: str, event_id: str, processing_seconds: float) -> Seen:
        key = (consumer, event_id)
        current = self._current(key)
        if current is not None:
            return current
        self._marks[key] = (Seen.PROCESSING, self._clock() + processing_seconds)
        if len(self._marks) > 10_000:
            for stale in [k for k in list(self._marks) if self._current(k) is None]:
                self._marks.pop(stale, None)
        return Seen.NEW

    async def done(self, consumer: str, event_id: str, retention_seconds: float) -> None:
        self._marks[(consumer, event_id)] = (Seen.DONE, self._clock() + retention_seconds)

    async def forget(self, consumer: str, event_id: str) -> None:
        self._marks.pop((consumer, event_id), None)
