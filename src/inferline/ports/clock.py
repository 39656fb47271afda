"""The clock the job lifecycle reads: injected, so that tests can move time.

Lease ends, retry times, deadlines and every job timestamp are wall-clock
seconds (UNIX time, UTC), the format the store keeps. Whatever compares or
records them takes a `Clock` (default `SYSTEM_CLOCK`); `inferline.testing.clock`
has one that moves only when a test says so.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> float:
        """Wall-clock seconds since the epoch (UNIX time)."""
        ...


class SystemClock:
    """The real clock: `time.time()`."""

    def now(self) -> float:
        """The operating system's wall-clock time."""
        return time.time()


SYSTEM_CLOCK: Clock = SystemClock()
