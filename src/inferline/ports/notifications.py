"""Where alerts go: a `Notifier` posts a message to people (a Slack incoming webhook), or
nowhere when none is configured.

A notifier's destination is usually a secret (a webhook URL is its own credential), so
nothing a notifier says about itself — its `describe()`, its repr, the text of a
`NotificationFailed` — ever contains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Notification:
    """One message. `text` is always given: Slack shows it in desktop and mobile
    notifications and wherever the `blocks` (Block Kit layout) cannot be drawn."""

    text: str
    blocks: tuple[Mapping[str, Any], ...] = ()


class NotificationFailed(Exception):
    """A message was not delivered. `status`: the destination's HTTP status, if it answered;
    `attempts`: how many times it was sent; `retryable`: the failure was of the kind that
    passes (rate limit, server error, connection), only the tries ran out. The message
    never contains the destination's URL."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        retryable: bool = False,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.attempts = attempts
        self.retryable = retryable


class Notifier(Protocol):
    """Posts messages somewhere people read them."""

    @property
    def name(self) -> str:
        """The kind of destination: `slack`, or `none` when notifications are off."""
        ...

    @property
    def enabled(self) -> bool:
        """False when messages go nowhere (no destination is configured)."""
        ...

    def describe(self) -> str:
        """A sentence for logs and status views: where messages go, or why they do not.
        Never the secret part of the destination."""
        ...

    async def post(self, message: Notification) -> None:
        """Deliver `message` (retrying what may pass) or raise `NotificationFailed`."""
        ...

    async def close(self) -> None:
        """Release connections; `post` may open them again."""
        ...
