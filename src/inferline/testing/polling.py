"""Wait for a condition by asking again: the one poll-until loop of the tests and benchmarks.

A probe is called until its answer is accepted or the deadline passes. Answers that
mean "not yet" are not failures: a refused or dropped connection, an HTTP error
status, a body that is not JSON yet (a server still starting answers plain text),
`NotReady` raised by the probe, or an answer the `accept` predicate declines. Any
other exception is a real failure and propagates at once. On timeout, `TimeoutError`
names what was awaited and shows the last answer or exception.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

import httpx

T = TypeVar("T")

DEFAULT_INTERVAL = 0.05

# Exceptions that mean "the thing asked is not there yet", not "the test is wrong".
NOT_YET = (httpx.HTTPError, OSError, json.JSONDecodeError)


class NotReady(Exception):
    """Raised by a probe for "not yet"; its message becomes the last answer."""


def json_answer(response: httpx.Response) -> Any:
    """The JSON body of a 2xx response; `NotReady` for another status or a body that
    is not JSON (Prometheus, for one, answers a plain-text 503 while it starts)."""
    if not response.is_success:
        raise NotReady(f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        return response.json()
    except ValueError:
        raise NotReady(f"HTTP {response.status_code}, not JSON: {response.text[:300]}") from None


def poll_until(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float,
    accept: Callable[[T], object] = bool,
    interval: float = DEFAULT_INTERVAL,
) -> T:
    """Call `probe` every `interval` s until `accept(answer)` is true; return that answer."""
    attempts = _Attempts(what, timeout)
    while True:
        try:
            answer = probe()
        except (NotReady, *NOT_YET) as exc:
            attempts.declined(exc)
        else:
            if accept(answer):
                return answer
            attempts.declined(answer)
        time.sleep(interval)


@overload
async def poll_until_async(
    probe: Callable[[], Awaitable[T]],
    what: str,
    *,
    timeout: float,
    accept: Callable[[T], object] = bool,
    interval: float = DEFAULT_INTERVAL,
) -> T: ...


@overload
async def poll_until_async(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float,
    accept: Callable[[T], object] = bool,
    interval: float = DEFAULT_INTERVAL,
) -> T: ...


async def poll_until_async(
    probe: Callable[[], Any],
    what: str,
    *,
    timeout: float,
    accept: Callable[[Any], object] = bool,
    interval: float = DEFAULT_INTERVAL,
) -> Any:
    """`poll_until` inside an event loop: the probe may be a coroutine function, and the
    loop runs other tasks between calls (`interval=0` just yields to them)."""
    attempts = _Attempts(what, timeout)
    while True:
        try:
            returned = probe()
            answer = await returned if inspect.isawaitable(returned) else returned
        except (NotReady, *NOT_YET) as exc:
            attempts.declined(exc)
        else:
            if accept(answer):
                return answer
            attempts.declined(answer)
        await asyncio.sleep(interval)


class _Attempts:
    """The deadline and the last declined answer of one poll."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what = what
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.count = 0

    def declined(self, answer: object) -> None:
        """Record a "not yet"; raise TimeoutError when the deadline has passed."""
        self.count += 1
        if time.monotonic() < self.deadline:
            return
        raise TimeoutError(
            f"{self.what}: not after {self.timeout:g} s ({self.count} tries); "
            f"last answer: {_describe(answer)}"
        ) from (answer if isinstance(answer, BaseException) else None)


def _describe(answer: object) -> str:
    if isinstance(answer, httpx.Response):
        return f"HTTP {answer.status_code}: {answer.text[:300]}"
    if isinstance(answer, BaseException):
        return f"{type(answer).__name__}: {answer}"
    return repr(answer)[:500]
