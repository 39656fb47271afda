"""Window throttling of alerts: the first occurrence of an incident is announced at once,
the rest of its window becomes one follow-up with the count.

For each alert key (an incident id, or a (service, template) pair):

- the first occurrence opens a window of `window_seconds` and its message is posted at
  once;
- further occurrences inside the window are only counted (the latest alert is kept for
  the follow-up's content);
- when the window closes, if anything was counted, one follow-up says how many more
  occurred and when the last was seen; then the key is quiet again, and its next
  occurrence opens a new window with an immediate message.

A burst of 500 identical errors is therefore two messages: the first, and "+499 more".

The caller (the log pipeline) is never held up by the destination: `observe` only
records and queues, a background sender posts one message at a time (in order, so a
follow-up never overtakes its first message), and a failure to post is logged and
counted, never raised. Memory is bounded: at most `max_keys` open windows (opening one
more closes the oldest early, its follow-up sent rather than lost) and `max_queued`
messages waiting (beyond that a first message is dropped, counted, and its key left
closed so that the next occurrence tries again). `stop` closes every open window and
delivers what is queued (for at most `stop_timeout_seconds`) before returning.

Time comes from a `Clock`, so tests move it and call `flush_due` instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from inferline.core.tasks import cancel_and_wait
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.notifications import Notification, NotificationFailed, Notifier

log = logging.getLogger(__name__)

A = TypeVar("A")
A_contra = TypeVar("A_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What a window counted after its first message. `more`: occurrences after the first;
    `opened` / `last_seen`: clock times of the first message and the latest occurrence;
    `seconds`: the window's length, or less when it was closed early (stop, eviction)."""

    more: int
    opened: float
    last_seen: float
    seconds: float


class AlertMessages(Protocol[A_contra]):
    """Turns an alert into the messages of its window."""

    def first(self, alert: A_contra) -> Notification:
        """The message posted at once, for the first occurrence."""
        ...

    def follow_up(self, alert: A_contra, follow_up: FollowUp) -> Notification:
        """The message posted when the window closes (`alert`: the latest occurrence)."""
        ...


class AlertCounters(Protocol):
    """What the throttle counts (Prometheus in the app; nothing by default)."""

    def sent(self, kind: str) -> None:
        """A message (`kind`: `first` or `follow_up`) was delivered."""
        ...

    def failed(self, kind: str, reason: str) -> None:
        """A message was not delivered: `rejected` (the destination refused it), `gave_up`
        (tries ran out), `queue_full`, `shutdown` (still queued when stop timed out), or
        `error` (anything else)."""
        ...

    def suppressed(self, occurrences: int) -> None:
        """Occurrences folded into a follow-up instead of a message of their own."""
        ...


class NoCounters:
    """`AlertCounters` that count nothing."""

    def sent(self, kind: str) -> None:
        return None

    def failed(self, kind: str, reason: str) -> None:
        return None

    def suppressed(self, occurrences: int) -> None:
        return None


class Decision(StrEnum):
    """What `observe` did with an occurrence."""

    POSTED = "posted"
    """It opened a window: its message is queued to be posted now."""
    COUNTED = "counted"
    """Its key's window is open: it goes into the follow-up's count."""
    DROPPED = "dropped"
    """It would open a window, but the outgoing queue is full (the destination has been
    failing); nothing was recorded, so the next occurrence tries again."""
    OFF = "off"
    """Notifications are off (the notifier has no destination)."""


@dataclass(frozen=True, slots=True)
class AlertStats:
    """Counts since start, for status views."""

    destination: str
    enabled: bool
    window_seconds: float
    open_windows: int
    queued: int
    sent: int
    failed: int
    suppressed: int


@dataclass
class _Window(Generic[A]):
    alert: A
    opened: float
    closes: float
    last_seen: float
    more: int = 0


@dataclass(frozen=True, slots=True)
class _Outgoing:
    key: Hashable
    kind: str
    message: Notification


class AlertThrottle(Generic[A]):
    """One message per key and window, plus one follow-up with the count (module doc).
    The throttle owns `notifier`: `stop` closes it."""

    def __init__(
        self,
        notifier: Notifier,
        messages: AlertMessages[A],
        *,
        window_seconds: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
        counters: AlertCounters | None = None,
        max_keys: int = 10_000,
        max_queued: int = 1_000,
        tick_seconds: float = 1.0,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be positive, not {window_seconds}")
        if max_keys < 1 or max_queued < 1:
            raise ValueError("max_keys and max_queued must be at least 1")
        self.notifier = notifier
        self.messages = messages
        self.window_seconds = window_seconds
        self.clock = clock
        self.counters = counters or NoCounters()
        self.max_keys = max_keys
        self.tick_seconds = tick_seconds
        self.stop_timeout_seconds = stop_timeout_seconds
        self._windows: OrderedDict[Hashable, _Window[A]] = OrderedDict()
        self._queue: asyncio.Queue[_Outgoing] = asyncio.Queue(max_queued)
        self._opened = asyncio.Event()
        self._closer: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._dropping = False
        self._sent = self._failed = self._suppressed = 0

    def observe(self, key: Hashable, alert: A, occurrences: int = 1) -> Decision:
        """Record `occurrences` (at least 1) of `key`; never waits and never raises for the
        destination's sake."""
        if occurrences < 1:
            raise ValueError(f"occurrences must be at least 1, not {occurrences}")
        if not self.notifier.enabled:
            return Decision.OFF
        now = self.clock.now()
        window = self._windows.get(key)
        if window is not None and now >= window.closes:
            self._close(key, window, now)  # its follow-up goes out before the new message
            window = None
        if window is not None:
            window.alert = alert
            window.last_seen = now
            window.more += occurrences
            self._suppress(occurrences)
            return Decision.COUNTED
        if not self._enqueue(_Outgoing(key, "first", self.messages.first(alert))):
            return Decision.DROPPED
        while len(self._windows) >= self.max_keys:
            oldest, old = next(iter(self._windows.items()))
            self._close(oldest, old, now)
        self._windows[key] = _Window(alert, now, now + self.window_seconds, now, occurrences - 1)
        if occurrences > 1:
            self._suppress(occurrences - 1)
        self._opened.set()
        return Decision.POSTED

    def flush_due(self) -> int:
        """Close every window whose time is up, queueing its follow-up if it counted
        anything; returns how many windows closed. The background task calls it; tests on
        a moved clock call it themselves."""
        now = self.clock.now()
        due = [(key, w) for key, w in self._windows.items() if now >= w.closes]
        for key, window in due:
            self._close(key, window, now)
        return len(due)

    async def start(self) -> None:
        """Start the sender and the task that closes windows; says where alerts go."""
        if self.notifier.enabled:
            log.info(
                "alerts: %s; one message per incident and %g s window, then one follow-up "
                "with the count",
                self.notifier.describe(),
                self.window_seconds,
            )
        else:
            log.warning("alerts: %s", self.notifier.describe())
        self._start_sender()
        if self._closer is None:
            self._closer = asyncio.create_task(self._close_windows(), name="alert-windows")

    async def drain(self) -> None:
        """Wait until every queued message has been delivered or given up on."""
        self._start_sender()
        await self._queue.join()

    async def stop(self) -> None:
        """Close every open window (early follow-ups), deliver what is queued for at most
        `stop_timeout_seconds`, count the rest as failed, then close the notifier."""
        await cancel_and_wait(self._closer)
        self._closer = None
        now = self.clock.now()
        for key, window in list(self._windows.items()):
            self._close(key, window, now)
        if not self._queue.empty():
            self._start_sender()
            try:
                async with asyncio.timeout(self.stop_timeout_seconds):
                    await self._queue.join()
            except TimeoutError:
                log.warning(
                    "alerts: %d messages not delivered within %g s of stopping",
                    self._queue.qsize(),
                    self.stop_timeout_seconds,
                )
        await cancel_and_wait(self._sender)
        self._sender = None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            self._queue.task_done()
            self._count_failure(item, "shutdown")
        await self.notifier.close()

    def stats(self) -> AlertStats:
        return AlertStats(
            destination=self.notifier.describe(),
            enabled=self.notifier.enabled,
            window_seconds=self.window_seconds,
            open_windows=len(self._windows),
            queued=self._queue.qsize(),
            sent=self._sent,
            failed=self._failed,
            suppressed=self._suppressed,
        )

    def _close(self, key: Hashable, window: _Window[A], now: float) -> None:
        del self._windows[key]
        if window.more == 0:
            return
        follow_up = FollowUp(
            more=window.more,
            opened=window.opened,
            last_seen=window.last_seen,
            seconds=min(self.window_seconds, max(0.0, now - window.opened)),
        )
        self._enqueue(_Outgoing(key, "follow_up", self.messages.follow_up(window.alert, follow_up)))

    def _enqueue(self, item: _Outgoing) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            if not self._dropping:
                log.warning(
                    "alerts: %d messages wait for the destination already; dropping new ones "
                    "until it catches up",
                    self._queue.qsize(),
                )
            self._dropping = True
            self._count_failure(item, "queue_full")
            return False
        if self._dropping:
            log.info("alerts: the outgoing queue has room again")
            self._dropping = False
        return True

    def _suppress(self, occurrences: int) -> None:
        self._suppressed += occurrences
        self.counters.suppressed(occurrences)

    def _count_failure(self, item: _Outgoing, reason: str) -> None:
        self._failed += 1
        self.counters.failed(item.kind, reason)

    def _start_sender(self) -> None:
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_queued(), name="alert-sender")

    async def _send_queued(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._send(item)
            except asyncio.CancelledError:  # stopped while it was being tried
                self._count_failure(item, "shutdown")
                raise
            finally:
                self._queue.task_done()

    async def _send(self, item: _Outgoing) -> None:
        """Post one message; a failure is logged and counted, never raised."""
        try:
            await self.notifier.post(item.message)
        except NotificationFailed as exc:
            reason = "gave_up" if exc.retryable else "rejected"
            log.warning("alert %s (%s) not posted: %s", item.key, item.kind, exc)
            self._count_failure(item, reason)
        except Exception as exc:  # a notifier's bug must not stop the sender
            log.error("alert %s (%s) not posted: %s", item.key, item.kind, type(exc).__name__)
            self._count_failure(item, "error")
        else:
            self._sent += 1
            self.counters.sent(item.kind)

    async def _close_windows(self) -> None:
        """Close due windows: wake at the earliest close (at most every `tick_seconds`, as
        the clock may be moved), or when a window opens."""
        while True:
            self.flush_due()
            wait = self.tick_seconds
            if self._windows:  # the oldest window closes first (unless the clock went back)
                earliest = next(iter(self._windows.values())).closes
                wait = min(wait, max(0.0, earliest - self.clock.now()))
            self._opened.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._opened.wait()
