"""The resilience kit on real async back-ends that fail in controlled ways: retries with
backoff on errors worth retrying, the breaker, the bulkhead of 10, the named fallback."""

from __future__ import annotations

import asyncio

import pytest

from inferline.application.resilience import (
    NO_RETRY,
    BreakerState,
    Bulkhead,
    BulkheadFull,
    CircuitBreaker,
    CircuitOpen,
    Fallback,
    Resilience,
    Retry,
    resilient,
    worth_retrying,
)
from inferline.domain.errors import InvalidInput, Overloaded, Unavailable
from inferline.testing.clock import FakeClock
from inferline.testing.polling import poll_until_async


class Backend:
    """A back-end that fails its first `failures` calls with `error`, then answers."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or Unavailable("the embedding service is down")
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)  # a real suspension point, as a network call has
        if self.calls <= self.failures:
            raise self.error
        return f"answer {self.calls}"


def state_of(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read afresh: the state changes behind mypy's narrowing


class Sleeps:
    """Records the backoff waits and lets time pass on a fake clock instead of waiting."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.waits: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)
        await asyncio.sleep(0)


async def test_errors_worth_retrying_are_tried_three_times_with_1_to_5_s_backoff() -> None:
    sleeps = Sleeps()
    backend = Backend(failures=2)
    outcome = await resilient(backend, policy=Resilience("embed", sleep=sleeps))
    assert (outcome.value, outcome.attempts, outcome.fallback) == ("answer 3", 3, None)
    assert sleeps.waits[:2] == [1.0, 2.0]
    assert [Retry(attempts=6).wait(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    busy = Backend(failures=1, error=Overloaded("the embedding model's queue is full"))
    assert (await resilient(busy, policy=Resilience("embed", sleep=sleeps))).attempts == 2
    assert not worth_retrying(BulkheadFull("ours")) and not worth_retrying(ValueError("bug"))
    jittered = Retry(jitter=0.2)
    assert all(0.8 * 4 <= jittered.wait(3) <= 4 for _ in range(50))


async def test_exhausted_retries_answer_with_the_named_fallback() -> None:
    sleeps = Sleeps()
    backend = Backend(failures=10, error=TimeoutError("read timed out"))
    seen: list[BaseException] = []

    async def popular(exc: BaseException) -> str:
        seen.append(exc)
        return "popular items"

    outcome = await resilient(
        backend, Fallback("popularity", popular), policy=Resilience("llm", sleep=sleeps)
    )
    assert outcome.value == "popular items" and outcome.degraded
    assert outcome.fallback == "popularity" and outcome.attempts == 3 == backend.calls
    assert outcome.error == "TimeoutError: read timed out"
    assert isinstance(seen[0], TimeoutError)
    assert sleeps.waits == [1.0, 2.0]


async def test_errors_not_worth_retrying_go_straight_to_the_fallback_or_raise() -> None:
    sleeps = Sleeps()
    policy = Resilience("llm", sleep=sleeps)
    bad = Backend(failures=1, error=InvalidInput("prompt too long"))
    outcome = await policy.call(bad, Fallback("no-llm", lambda exc: "without the LLM"))
    assert (outcome.value, outcome.attempts, bad.calls) == ("without the LLM", 1, 1)
    with pytest.raises(ValueError, match="a bug"):
        await policy.call(Backend(failures=1, error=ValueError("a bug")))
    assert sleeps.waits == []


async def test_the_breaker_opens_refuses_without_calling_then_lets_one_trial_through() -> None:
    clock = FakeClock(100.0)
    sleeps = Sleeps(clock)
    policy = Resilience.standard(
        "embed",
        failure_threshold=3,
        reset_seconds=30,
        retry=NO_RETRY,
        clock=clock.now,
        sleep=sleeps,
    )
    assert policy.breaker is not None
    down = Backend(failures=1000)
    fallback: Fallback[str] = Fallback("cached", lambda exc: "stale")
    for _ in range(3):
        assert (await policy.call(down, fallback)).fallback == "cached"
    assert state_of(policy.breaker) is BreakerState.OPEN
    refused = await policy.call(down, fallback)
    assert down.calls == 3  # the open circuit did not call the back-end
    assert refused.error is not None and "circuit open" in refused.error
    with pytest.raises(CircuitOpen):
        await policy.call(down)
    clock.advance(30)
    up = Backend()
    assert (await policy.call(up, fallback)).value == "answer 1"  # the trial succeeds
    assert state_of(policy.breaker) is BreakerState.CLOSED


async def test_retries_stop_at_an_open_circuit() -> None:
    clock = FakeClock(0.0)
    sleeps = Sleeps(clock)
    breaker = CircuitBreaker("llm", failure_threshold=2, reset_seconds=60, clock=clock.now)
    policy = Resilience("llm", breaker=breaker, retry=Retry(attempts=5), sleep=sleeps)
    down = Backend(failures=1000)
    outcome = await policy.call(down, Fallback("rules", lambda exc: "rule-based"))
    assert down.calls == 2 and outcome.attempts == 3  # the third try met the open circuit
    assert outcome.error is not None and outcome.error.startswith("CircuitOpen")


async def test_the_bulkhead_runs_at_most_ten_and_refuses_beyond_its_waiting_room() -> None:
    bulkhead = Bulkhead("embed", max_concurrent=10, max_waiting=5)
    release = asyncio.Event()
    running = 0
    most = 0

    async def slow() -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return 1

    tasks = [asyncio.create_task(bulkhead.run(slow)) for _ in range(15)]
    await poll_until_async(
        lambda: bulkhead.running + bulkhead.waiting == 15, "15 calls in", timeout=5, interval=0
    )
    assert (bulkhead.running, bulkhead.waiting) == (10, 5)
    with pytest.raises(BulkheadFull, match="10 calls running and 5 waiting"):
        await bulkhead.run(slow)
    release.set()
    assert sum(await asyncio.gather(*tasks)) == 15
    assert most == 10 and bulkhead.running == 0


async def test_a_full_bulkhead_answers_with_the_fallback_and_spares_the_breaker() -> None:
    policy = Resilience.standard("llm", max_concurrent=1, max_waiting=0, retry=NO_RETRY)
    assert policy.breaker is not None and policy.bulkhead is not None
    release = asyncio.Event()

    async def held() -> str:
        await release.wait()
        return "slow answer"

    first = asyncio.create_task(policy.call(held))
    bulkhead = policy.bulkhead
    await poll_until_async(
        lambda: bulkhead.running == 1, "the first call in", timeout=5, interval=0
    )
    shed = await policy.call(Backend(), Fallback("shed", lambda exc: "busy"))
    assert shed.fallback == "shed" and shed.error is not None and "BulkheadFull" in shed.error
    release.set()
    assert (await first).value == "slow answer"
    assert state_of(policy.breaker) is BreakerState.CLOSED
