"""The notifier of a deployment without a destination: messages go nowhere, and it says so
(in the start-up log and in status views) instead of failing."""

from __future__ import annotations

from inferline.ports.notifications import Notification


class NoNotifier:
    """A `Notifier` that drops every message; `enabled` is False so that callers can skip
    the work of building messages nobody reads."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    @property
    def name(self) -> str:
        return "none"

    @property
    def enabled(self) -> bool:
        return False

    def describe(self) -> str:
        return f"notifications are off: {self.reason}"

    async def post(self, message: Notification) -> None:
        """Nothing to deliver to."""

    async def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"NoNotifier({self.reason!r})"
