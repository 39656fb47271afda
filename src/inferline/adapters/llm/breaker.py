"""A circuit breaker: stop calling an endpoint that keeps failing, try again later.

Closed, it lets every call through and counts consecutive failures; at
`failure_threshold` it opens. Open, it refuses calls (`LLMUnavailable`, without
touching the network) until `reset_seconds` have passed; then it is half-open and
lets one trial call through at a time: a success closes it, a failure opens it
again for another `reset_seconds`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

from inferline.ports.llm import LLMUnavailable

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure breaker with a cool-down (one event loop; not thread-safe)."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.reset_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def before_call(self) -> None:
        """Let a call through, or raise `LLMUnavailable` while the breaker is open (or
        half-open with its trial call still running)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return
        assert self._opened_at is not None
        wait = max(0.0, self._opened_at + self.reset_seconds - self._clock())
        raise LLMUnavailable(
            f"{self.name} failed {self._failures} times in a row; not calling it for "
            f"another {wait:.0f} s (circuit open)"
        )

    def abandoned(self) -> None:
        """The call let through ended with neither outcome (its caller was cancelled)."""
        self._trial_running = False

    def succeeded(self) -> None:
        if self._opened_at is not None:
            log.info("circuit of %s closed again", self.name)
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def failed(self) -> None:
        self._failures += 1
        trial = self._trial_running
        self._trial_running = False
        if trial or (self._opened_at is None and self._failures >= self.failure_threshold):
            self._opened_at = self._clock()
            log.warning(
                "circuit of %s open for %.0f s after %d failures in a row",
                self.name,
                self.reset_seconds,
                self._failures,
            )
