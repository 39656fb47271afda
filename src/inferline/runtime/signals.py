"""The commit signal: after a local commit, wakes this process's consumers (worker, relay).

Whoever commits calls `on_commit` (the name of the signal everywhere); each listener's
`wake` then runs: the worker claims and the relay publishes at once, without waiting
for their next poll.
"""

from __future__ import annotations

from collections.abc import Callable


class CommitSignal:
    """Callbacks to run after this process committed something others should see."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def connect(self, wake: Callable[[], None]) -> None:
        self._listeners.append(wake)

    def on_commit(self) -> None:
        for wake in self._listeners:
            wake()
