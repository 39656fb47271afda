"""A commit signal: wakes this process's consumers (worker, relay) after a local commit."""

from __future__ import annotations

from collections.abc import Callable


class CommitSignal:
    """Callbacks to run after this process committed something others should see."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def connect(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def fire(self) -> None:
        for listener in self._listeners:
            listener()
