"""The circuit breaker (application/resilience.py, as the LLM adapter configures it):
opens after N failures in a row, then one trial."""

from __future__ import annotations

import pytest

from inferline.application.resilience import BreakerState, CircuitBreaker
from inferline.ports.llm import LLMUnavailable
from inferline.testing.clock import FakeClock


def state_of(circuit: CircuitBreaker) -> BreakerState:
    return circuit.state  # read afresh: the state changes behind mypy's narrowing


def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(
        "endpoint", failure_threshold=3, reset_seconds=30, clock=clock.now, error=LLMUnavailable
    )


def test_opens_after_the_threshold_of_consecutive_failures_only() -> None:
    clock = FakeClock(1000.0)
    circuit = breaker(clock)
    for _ in range(2):
        circuit.before_call()
        circuit.failed()
    circuit.before_call()
    circuit.succeeded()  # a success in between resets the count
    for _ in range(2):
        circuit.before_call()
        circuit.failed()
    assert state_of(circuit) is BreakerState.CLOSED
    circuit.before_call()
    circuit.failed()
    assert state_of(circuit) is BreakerState.OPEN
    with pytest.raises(LLMUnavailable, match=r"circuit open"):
        circuit.before_call()


def test_half_open_lets_one_trial_through_and_its_outcome_decides() -> None:
    clock = FakeClock(1000.0)
    circuit = breaker(clock)
    for _ in range(3):
        circuit.before_call()
        circuit.failed()
    clock.advance(29.9)
    with pytest.raises(LLMUnavailable):
        circuit.before_call()
    clock.advance(0.2)
    assert state_of(circuit) is BreakerState.HALF_OPEN
    circuit.before_call()  # the trial
    with pytest.raises(LLMUnavailable):
        circuit.before_call()  # nobody else while it runs
    circuit.failed()
    assert state_of(circuit) is BreakerState.OPEN  # a failed trial opens it for another 30 s
    clock.advance(30.1)
    circuit.before_call()
    circuit.succeeded()
    assert state_of(circuit) is BreakerState.CLOSED
    circuit.before_call()


def test_an_abandoned_trial_lets_the_next_call_try() -> None:
    clock = FakeClock(1000.0)
    circuit = breaker(clock)
    for _ in range(3):
        circuit.before_call()
        circuit.failed()
    clock.advance(31)
    circuit.before_call()
    circuit.abandoned()  # the caller was cancelled: no verdict
    circuit.before_call()  # another trial, not "open" for ever
    circuit.succeeded()
    assert state_of(circuit) is BreakerState.CLOSED
