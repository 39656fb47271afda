"""A clock that moves only when told: tests of leases, retries and deadlines need no sleep."""

from __future__ import annotations

# A fixed start (2023-11-14T22:13:20Z): results never depend on when a test runs.
DEFAULT_START = 1_700_000_000.0


class FakeClock:
    """A `Clock` that stands still until `advance` or `set` moves it."""

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = start

    def now(self) -> float:
        """The time this clock was last set to."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (never back); returns the new time."""
        if seconds < 0:
            raise ValueError(f"a clock does not go back (advance by {seconds})")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        """Jump to `when`, forward or back (a wall clock can be corrected backwards)."""
        self._now = when
