"""The remote LLM adapter against a real HTTP endpoint that scripts its answers.

Retries (429 with Retry-After, 5xx, timeouts, refused connections), the circuit
breaker, streaming, the bearer token (sent, never logged) and the structured-output
helper's one retry on invalid JSON.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel, SecretStr

from inferline.adapters.llm.openai_compatible import RemoteChatModel
from inferline.application.llm import InvalidLLMOutput, complete_json
from inferline.application.resilience import BreakerState
from inferline.bootstrap import build_chat_model
from inferline.core.settings import Settings
from inferline.ports.llm import ChatMessage, ChatRequest, LLMUnavailable
from inferline.testing.clock import FakeClock
from inferline.testing.server import free_port
from tests.support.llm_endpoint import (
    Answer,
    ScriptedEndpoint,
    completion,
    failure,
    serving,
    stream_of,
)

SECRET = "sk-test-4f1c9e0b7d2a-never-logged"
HELLO = ChatRequest(messages=[ChatMessage(role="user", content="Hello")], max_tokens=5)


def state_of(llm: RemoteChatModel) -> BreakerState:
    return llm.breaker.state


def remote(url: str, **options: object) -> RemoteChatModel:
    settings: dict[str, object] = {
        "timeout_seconds": 5.0,
        "max_attempts": 4,
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 0.05,
        **options,
    }
    return RemoteChatModel(url, "remote-model", SecretStr(SECRET), **settings)  # type: ignore[arg-type]


async def test_retries_429_and_5xx_then_answers_with_the_key_as_bearer_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and ours: everything
    endpoint = ScriptedEndpoint().then(
        failure(429, "slow down", **{"Retry-After": "0"}),
        failure(502),
        completion("Hi there"),
    )
    async with serving(endpoint) as url:
        llm = remote(url)
        answer = await llm.complete(HELLO)
        await llm.aclose()
    assert (answer.content, answer.prompt_tokens, answer.completion_tokens) == ("Hi there", 7, 3)
    assert len(endpoint.requests) == 3
    for recorded in endpoint.requests:
        assert recorded.headers["authorization"] == f"Bearer {SECRET}"
        assert recorded.body["model"] == "remote-model"
        assert recorded.body["messages"] == [{"role": "user", "content": "Hello"}]
        assert (recorded.body["max_tokens"], recorded.body["stream"]) == (5, False)
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2 and "HTTP 429: slow down" in retries[0]
    assert SECRET not in caplog.text
    assert SECRET not in repr(llm) and SECRET not in str(Settings(llm_api_key=SecretStr(SECRET)))


async def test_gives_up_after_the_attempts_with_the_reason() -> None:
    endpoint = ScriptedEndpoint().then(*[failure(503, "overloaded") for _ in range(3)])
    async with serving(endpoint) as url:
        llm = remote(url, max_attempts=3)
        with pytest.raises(LLMUnavailable, match="HTTP 503: overloaded"):
            await llm.complete(HELLO)
        await llm.aclose()
    assert len(endpoint.requests) == 3


async def test_a_refusal_is_not_retried() -> None:
    endpoint = ScriptedEndpoint().then(failure(401, "bad key"), completion("unreached"))
    async with serving(endpoint) as url:
        llm = remote(url)
        with pytest.raises(LLMUnavailable, match="refused the request: HTTP 401: bad key"):
            await llm.complete(HELLO)
        await llm.aclose()
    assert len(endpoint.requests) == 1
    assert state_of(llm) is BreakerState.CLOSED


async def test_timeouts_and_refused_connections_are_retried() -> None:
    endpoint = ScriptedEndpoint().then(Answer(delay=1.0, body={}), completion("late but fine"))
    async with serving(endpoint) as url:
        llm = remote(url, timeout_seconds=0.3)
        answer = await llm.complete(HELLO)
        await llm.aclose()
    assert answer.content == "late but fine" and len(endpoint.requests) == 2
    nobody = remote(f"http://127.0.0.1:{free_port()}/v1", max_attempts=2)
    with pytest.raises(LLMUnavailable, match="ConnectError"):
        await nobody.complete(HELLO)
    await nobody.aclose()


async def test_the_semaphore_bounds_the_calls_in_flight() -> None:
    endpoint = ScriptedEndpoint().then(
        *[Answer(delay=0.2, body=completion(f"answer {i}").body) for i in range(6)]
    )
    async with serving(endpoint) as url:
        llm = remote(url, max_concurrency=2)
        answers = await asyncio.gather(*(llm.complete(HELLO) for _ in range(6)))
        await llm.aclose()
    assert sorted(a.content for a in answers) == [f"answer {i}" for i in range(6)]
    assert endpoint.most_in_flight == 2


async def test_the_circuit_opens_refuses_without_calling_then_a_trial_closes_it() -> None:
    clock = FakeClock(100.0)
    endpoint = ScriptedEndpoint().then(*[failure(500) for _ in range(3)])
    async with serving(endpoint) as url:
        llm = remote(
            url, max_attempts=1, breaker_failures=3, breaker_reset_seconds=30, clock=clock.now
        )
        for _ in range(3):
            with pytest.raises(LLMUnavailable, match="HTTP 500"):
                await llm.complete(HELLO)
        assert state_of(llm) is BreakerState.OPEN
        with pytest.raises(LLMUnavailable, match="circuit open"):
            await llm.complete(HELLO)
        assert len(endpoint.requests) == 3  # refused without a request
        clock.advance(31)
        endpoint.then(failure(500))
        with pytest.raises(LLMUnavailable, match="HTTP 500"):
            await llm.complete(HELLO)  # the trial fails: open again
        with pytest.raises(LLMUnavailable, match="circuit open"):
            await llm.complete(HELLO)
        clock.advance(31)
        assert (await llm.complete(HELLO)).content == "ok"  # the trial succeeds
        assert state_of(llm) is BreakerState.CLOSED
        await llm.aclose()
    assert len(endpoint.requests) == 5


async def _collect(pieces: AsyncIterator[str], into: list[str]) -> None:
    async for piece in pieces:
        into.append(piece)


async def test_streams_pieces_and_reports_an_error_event() -> None:
    endpoint = ScriptedEndpoint().then(
        failure(503),  # retried: the answer had not started
        stream_of("Hel", "lo", "!"),
        stream_of("Half", error="the model crashed"),
    )
    async with serving(endpoint) as url:
        llm = remote(url)
        assert [piece async for piece in llm.stream(HELLO)] == ["Hel", "lo", "!"]
        received: list[str] = []
        with pytest.raises(LLMUnavailable, match="the model crashed"):
            await _collect(llm.stream(HELLO), received)
        assert received == ["Half"]
        await llm.aclose()
    assert [r.body["stream"] for r in endpoint.requests] == [True, True, True]
    assert endpoint.requests[1].headers["authorization"] == f"Bearer {SECRET}"


class Headline(BaseModel):
    title: str
    score: int


async def test_structured_output_retries_once_on_invalid_json() -> None:
    endpoint = ScriptedEndpoint().then(
        completion("Sure! Here it is: {title: Rain}"),
        completion('{"title": "Rain tomorrow", "score": 3}'),
    )
    async with serving(endpoint) as url:
        llm = remote(url)
        headline = await complete_json(
            llm, [ChatMessage(role="user", content="Headline for: rain.")], Headline
        )
        await llm.aclose()
    assert headline == Headline(title="Rain tomorrow", score=3)
    first, second = (r.body for r in endpoint.requests)
    assert first["response_format"] == {"type": "json_object"}
    assert first["messages"][0]["role"] == "system" and '"score"' in first["messages"][0]["content"]
    assert second["messages"][-2] == {
        "role": "assistant",
        "content": "Sure! Here it is: {title: Rain}",
    }
    assert "not valid" in second["messages"][-1]["content"]


async def test_structured_output_gives_up_after_the_second_bad_answer() -> None:
    endpoint = ScriptedEndpoint().then(
        completion('{"title": "No score"}'), completion('{"title": "Still", "score": "high"}')
    )
    async with serving(endpoint) as url:
        llm = remote(url)
        with pytest.raises(InvalidLLMOutput, match="valid Headline in 2 tries: score") as caught:
            await complete_json(llm, [ChatMessage(role="user", content="x")], Headline)
        await llm.aclose()
    assert caught.value.content == '{"title": "Still", "score": "high"}'
    assert len(endpoint.requests) == 2


async def test_settings_choose_the_remote_adapter() -> None:
    settings = Settings(
        llm_url="http://127.0.0.1:9/v1",
        llm_model="qwen",
        llm_api_key=SecretStr(SECRET),
        llm_max_attempts=2,
    )
    llm = build_chat_model(settings, chat=None)  # type: ignore[arg-type]
    assert isinstance(llm, RemoteChatModel) and llm.name == "qwen"
    await llm.aclose()
    with pytest.raises(ValueError, match="llm_model"):
        Settings(llm_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="LLM URL scheme"):
        Settings(llm_url="ftp://example/v1", llm_model="m")
