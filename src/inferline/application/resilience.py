"""Resilience toward back-ends: circuit breaker, bulkhead, retries, a named fallback.

The pieces, each usable alone:

- `CircuitBreaker`: after `failure_threshold` failed calls in a row it opens and
  refuses calls (raising `CircuitOpen`, or the error its owner chose) for
  `reset_seconds`; then it is half-open and lets one trial call through at a time:
  a success closes it, a failure opens it again.
- `Bulkhead`: at most `max_concurrent` calls run at once (default 10); up to
  `max_waiting` more wait for a slot, and the next is refused at once with
  `BulkheadFull` (an `Overloaded`, HTTP 429) instead of queueing without bound.
- `Retry`: `attempts` tries (default 3) on errors `worth_retrying`, waiting
  `min_seconds` after the first failure and doubling up to `max_seconds` (1 s, 2 s,
  4 s, 5 s, …), each wait with up to `jitter` of it taken off at random.
- `resilient(call, fallback=...)`, or `Resilience(...).call(...)` for a policy kept
  per back-end: the composition, in this order: retry ( breaker ( bulkhead ( call )))
  — each attempt passes the breaker (a failure counts toward opening it) and holds a
  bulkhead slot only while it runs, not while it backs off. When the call still
  fails (or the breaker or bulkhead refuse it) and a `Fallback` is given, its value
  is returned instead, and the `Outcome` names it, so a response can say which
  part of it is a fallback and why.

Everything runs on one event loop (not thread-safe). Time and sleeping are
injectable (`clock`, `sleep`) so tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar, cast

from inferline.domain.errors import InvalidInput, Overloaded, Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


class CircuitOpen(Unavailable):
    """The back-end failed too often in a row; it is not called until the cool-down ends."""


class BulkheadFull(Overloaded):
    """Too many calls to the back-end run and wait already; this one was not started."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure breaker with a cool-down (one event loop; not thread-safe).

    `error` builds what `before_call` raises while open (default `CircuitOpen`); an
    adapter whose callers expect its own error type passes that (the LLM adapters pass
    `LLMUnavailable`).
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        error: Callable[[str], Exception] = CircuitOpen,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._error = error
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
        """Let a call through, or raise while the breaker is open (or half-open with its
        trial call still running)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return
        assert self._opened_at is not None
        wait = max(0.0, self._opened_at + self.reset_seconds - self._clock())
        raise self._error(
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


class Bulkhead:
    """At most `max_concurrent` calls at once; at most `max_waiting` more wait for a slot
    (None: any number wait); beyond that a call is refused with `BulkheadFull`."""

    def __init__(self, name: str, max_concurrent: int = 10, max_waiting: int | None = 0) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.name = name
        self.max_concurrent = max_concurrent
        self.max_waiting = max_waiting
        self._slots = asyncio.Semaphore(max_concurrent)
        self.running = 0
        self.waiting = 0

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call` in a slot, waiting for one when allowed; raise `BulkheadFull` else."""
        full = self.max_waiting is not None and self.waiting >= self.max_waiting
        if full and self._slots.locked():
            raise BulkheadFull(
                f"{self.name}: {self.running} calls running and {self.waiting} waiting "
                f"(at most {self.max_concurrent} at once)",
                retry_after=1.0,
            )
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            return await call()
        finally:
            self.running -= 1
            self._slots.release()


def worth_retrying(exc: BaseException) -> bool:
    """The default retry rule: the back-end may answer next time (unavailable, busy for
    now, timed out, connection trouble); a refusal of our own (open circuit, full
    bulkhead) or a bad request will not change by asking again."""
    if isinstance(exc, CircuitOpen | BulkheadFull | InvalidInput):
        return False
    return isinstance(exc, Unavailable | Overloaded | TimeoutError | OSError)


@dataclass(frozen=True, slots=True)
class Retry:
    """Tries and backoff: `attempts` in all, waits from `min_seconds` doubling to
    `max_seconds`, each shortened by up to `jitter` (a fraction) at random."""

    attempts: int = 3
    min_seconds: float = 1.0
    max_seconds: float = 5.0
    jitter: float = 0.0
    retry_on: Callable[[BaseException], bool] = worth_retrying

    def wait(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed try (1-based)."""
        base = min(self.max_seconds, self.min_seconds * 2 ** (failures - 1))
        return float(base * (1 - self.jitter * random.random()))


NO_RETRY = Retry(attempts=1)


@dataclass(frozen=True, slots=True)
class Fallback(Generic[T]):
    """What to answer when the back-end cannot: `name` goes into the outcome (and the
    response), `value(error)` computes the answer from what went wrong."""

    name: str
    value: Callable[[BaseException], Awaitable[T] | T]


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """A resilient call's value, and whether a fallback gave it (`fallback` is its name,
    `error` what made it necessary)."""

    value: T
    fallback: str | None = None
    error: str | None = None
    attempts: int = 1

    @property
    def degraded(self) -> bool:
        return self.fallback is not None


@dataclass
class Resilience:
    """One back-end's policy: breaker, bulkhead and retries, kept across calls."""

    name: str
    breaker: CircuitBreaker | None = None
    bulkhead: Bulkhead | None = None
    retry: Retry = field(default_factory=Retry)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @classmethod
    def standard(
        cls,
        name: str,
        *,
        max_concurrent: int = 10,
        max_waiting: int | None = 100,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        retry: Retry | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> Resilience:
        """Issue 14's policy: a breaker, a bulkhead of 10, 3 tries with 1-5 s backoff."""
        return cls(
            name,
            breaker=CircuitBreaker(
                name, failure_threshold=failure_threshold, reset_seconds=reset_seconds, clock=clock
            ),
            bulkhead=Bulkhead(name, max_concurrent, max_waiting),
            retry=retry if retry is not None else Retry(jitter=0.2),
            sleep=sleep,
        )

    async def call(
        self, call: Callable[[], Awaitable[T]], fallback: Fallback[T] | None = None
    ) -> Outcome[T]:
        """`call` under the policy; its value, or the fallback's (named) when it fails."""
        attempts = 0
        while True:
            attempts += 1
            try:
                value = await self._attempt(call)
                return Outcome(value, attempts=attempts)
            except Exception as exc:
                retry = attempts < self.retry.attempts and self.retry.retry_on(exc)
                if retry:
                    wait = self.retry.wait(attempts)
                    log.info(
                        "%s: try %d failed (%s); again in %.1f s", self.name, attempts, exc, wait
                    )
                    await self.sleep(wait)
                    continue
                if fallback is None:
                    raise
                log.warning("%s failed (%s); answering with %s", self.name, exc, fallback.name)
                answer = fallback.value(exc)
                if inspect.isawaitable(answer):
                    answer = await answer
                return Outcome(
                    cast(T, answer), fallback=fallback.name, error=describe(exc), attempts=attempts
                )

    async def _attempt(self, call: Callable[[], Awaitable[T]]) -> T:
        breaker = self.breaker
        if breaker is None:
            return await self._in_bulkhead(call)
        breaker.before_call()
        verdict = False
        try:
            value = await self._in_bulkhead(call)
            verdict = True
            breaker.succeeded()
            return value
        except BulkheadFull:
            raise  # our own refusal says nothing about the back-end
        except InvalidInput:
            raise  # a bad request: the back-end is fine
        except Exception:
            verdict = True
            breaker.failed()
            raise
        finally:
            if not verdict:
                breaker.abandoned()

    async def _in_bulkhead(self, call: Callable[[], Awaitable[T]]) -> T:
        if self.bulkhead is None:
            return await call()
        return await self.bulkhead.run(call)


async def resilient(
    call: Callable[[], Awaitable[T]],
    fallback: Fallback[T] | None = None,
    *,
    policy: Resilience | None = None,
    name: str = "back-end",
) -> Outcome[T]:
    """Run `call` under `policy` (default: retries only, 3 tries with 1-5 s backoff;
    pass a kept `Resilience.standard(...)` to share a breaker and a bulkhead across
    calls) and return its value, or the named fallback's when it fails."""
    return await (policy or Resilience(name)).call(call, fallback)


def describe(exc: BaseException) -> str:
    """A short, human description of an error for a response."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
