"""Root-cause analysis against a scripted OpenAI-compatible endpoint (a real HTTP server
answering what each test scripts): a valid answer, invalid answers (asked again, then no
analysis), ids the model was not given dropped, the LLM down or slow, the prompt's bounds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inferline.adapters.llm.openai_compatible import RemoteChatModel
from inferline.adapters.llm.unavailable import NoChatModel
from inferline.application.resilience import NO_RETRY, BreakerState, Resilience
from inferline.apps.logs.analysis import RootCauseAnalyst, build_prompt
from inferline.apps.logs.memory import IncidentDigest, PastIncident
from inferline.testing.server import free_port
from tests.support.llm_endpoint import Answer, ScriptedEndpoint, completion, failure, serving

pytestmark = pytest.mark.timeout(60)

AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
DIGEST = IncidentDigest(
    id="inc-2",
    tenant="acme",
    service="payments",
    level="ERROR",
    template="Connection to database <*> timed out after <*> ms",
    samples=[
        "Connection to database db-3 timed out after 5000 ms",
        "Connection to database db-4 timed out after 5100 ms",
    ],
    parameters=[["db-3", "5000"], ["db-4", "5100"]],
    count=17,
    first_seen=AT,
    last_seen=AT,
)
PAST = [
    PastIncident(
        "inc-1",
        0.93,
        "payments",
        "ERROR",
        "Connection to database <*> timed out after <*> ms",
        "Raised the connection pool from 10 to 40.",
        "2026-11-30T10:00:00+00:00",
        "2026-11-30T09:00:00+00:00",
        42,
    )
]


def answer(**fields: Any) -> Answer:
    body = {
        "summary": "Payments cannot reach its database.",
        "probable_cause": "The connection pool is exhausted under load.",
        "severity": "high",
        "suggested_actions": ["Raise the pool size", "Check slow queries"],
        "similar_incident_ids": ["inc-1"],
        **fields,
    }
    return completion(json.dumps(body))


def remote(url: str, **options: Any) -> RemoteChatModel:
    settings: dict[str, Any] = {
        "timeout_seconds": 5.0,
        "max_attempts": 2,
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 0.02,
        **options,
    }
    return RemoteChatModel(url, "remote-model", None, **settings)


def quick(**options: Any) -> dict[str, Any]:
    return {"policy": Resilience("test-llm", retry=NO_RETRY), **options}


async def test_a_valid_answer_is_the_root_cause_with_only_the_ids_it_was_given() -> None:
    endpoint = ScriptedEndpoint().then(
        answer(severity=" HIGH ", similar_incident_ids=["inc-1", "inc-404", "inc-1"])
    )
    async with serving(endpoint) as url:
        llm = remote(url)
        analysis = await RootCauseAnalyst(llm, **quick()).analyse(DIGEST, PAST)
        await llm.aclose()
    assert analysis.analysed and analysis.unavailable is None
    cause = analysis.root_cause
    assert cause is not None
    assert (cause.severity, cause.similar_incident_ids) == ("high", ["inc-1"])
    assert cause.suggested_actions == ["Raise the pool size", "Check slow queries"]
    assert analysis.similar == PAST and analysis.model == "remote-model"
    view = analysis.view()
    assert view["root_cause"]["probable_cause"] == "The connection pool is exhausted under load."
    assert view["similar"][0]["resolution"] == "Raised the connection pool from 10 to 40."
    (request,) = endpoint.requests
    assert request.body["response_format"] == {"type": "json_object"}
    system, user = request.body["messages"]
    assert '"severity"' in system["content"]  # the schema is in the instructions
    prompt = user["content"]
    assert "Connection to database <*> timed out after <*> ms" in prompt
    assert "- Connection to database db-3 timed out after 5000 ms" in prompt
    assert "id inc-1 (payments)" in prompt and "Raised the connection pool" in prompt


async def test_an_invalid_answer_is_asked_again_then_no_analysis_with_the_similar_ones() -> None:
    endpoint = ScriptedEndpoint().then(
        completion("The database is slow."), answer(severity="catastrophic")
    )
    async with serving(endpoint) as url:
        llm = remote(url)
        analysis = await RootCauseAnalyst(llm, **quick()).analyse(DIGEST, PAST)
        await llm.aclose()
    assert not analysis.analysed and analysis.root_cause is None
    assert analysis.unavailable is not None
    assert analysis.unavailable.startswith("the LLM's answer was not valid")
    assert "severity" in analysis.unavailable
    assert analysis.similar == PAST
    assert len(endpoint.requests) == 2
    retry = endpoint.requests[1].body["messages"]
    assert retry[2] == {"role": "assistant", "content": "The database is slow."}
    assert "not valid" in retry[3]["content"]


async def test_a_second_answer_that_validates_is_taken() -> None:
    endpoint = ScriptedEndpoint().then(completion('{"summary": 1'), answer(severity="low"))
    async with serving(endpoint) as url:
        llm = remote(url)
        analysis = await RootCauseAnalyst(llm, **quick()).analyse(DIGEST, [])
        await llm.aclose()
    assert analysis.root_cause is not None and analysis.root_cause.severity == "low"
    # shown no past incident, it may name none
    assert analysis.root_cause.similar_incident_ids == []
    assert (
        "No similar past incident is known." in endpoint.requests[0].body["messages"][1]["content"]
    )


async def test_without_an_llm_the_analysis_says_why_and_keeps_the_similar_ones() -> None:
    analysis = await RootCauseAnalyst(
        NoChatModel("no chat model is configured"), **quick()
    ).analyse(DIGEST, PAST)
    assert (analysis.root_cause, analysis.similar) == (None, PAST)
    assert analysis.unavailable == "no LLM: no chat model is configured"
    assert analysis.view()["analysed"] is False


async def test_an_llm_that_is_down_opens_the_breaker_and_then_is_not_called() -> None:
    endpoint = ScriptedEndpoint().then(*[failure(503, "overloaded") for _ in range(4)])
    policy = Resilience.standard("logs-llm-test", failure_threshold=2, retry=NO_RETRY)
    async with serving(endpoint) as url:
        llm = remote(url)
        analyst = RootCauseAnalyst(llm, policy=policy)
        first = await analyst.analyse(DIGEST, PAST)
        await analyst.analyse(DIGEST, PAST)
        assert policy.breaker is not None and policy.breaker.state is BreakerState.OPEN
        third = await analyst.analyse(DIGEST, PAST)
        await llm.aclose()
    assert first.unavailable is not None and first.unavailable.startswith("no LLM")
    assert "503" in first.unavailable
    assert third.unavailable is not None and "circuit open" in third.unavailable
    assert len(endpoint.requests) == 4  # two tries of the adapter, twice; none the third time
    assert third.similar == PAST


async def test_a_refused_connection_and_a_slow_answer_are_no_analysis() -> None:
    llm = remote(f"http://127.0.0.1:{free_port()}/v1")
    refused = await RootCauseAnalyst(llm, **quick()).analyse(DIGEST, PAST)
    await llm.aclose()
    assert refused.unavailable is not None and refused.unavailable.startswith("no LLM")
    endpoint = ScriptedEndpoint().then(Answer(body=None, delay=3.0))
    async with serving(endpoint) as url:
        llm = remote(url)
        slow = await RootCauseAnalyst(llm, **quick(timeout_seconds=0.3)).analyse(DIGEST, PAST)
        await llm.aclose()
    assert slow.unavailable == "the LLM did not answer within 0.3 s"
    assert slow.similar == PAST


def test_the_prompt_stays_small_however_large_the_incident() -> None:
    huge = IncidentDigest(
        id="inc-big",
        tenant="acme",
        service="s" * 500,
        level="FATAL",
        template="x " * 5000,
        samples=["sample " * 1000] * 50,
        count=10**9,
        first_seen=AT,
        last_seen=AT,
    )
    many = [
        PastIncident(f"inc-{n}", 0.9, "svc", "ERROR", "t " * 2000, "r " * 5000, "", "", 1)
        for n in range(20)
    ]
    prompt = build_prompt(huge, many)
    assert len(prompt) < 3000
    assert prompt.count("\n- sample") == 3 and prompt.count("| resolved by:") == 3
