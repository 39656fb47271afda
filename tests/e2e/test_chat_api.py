"""SmolLM2 behind the OpenAI chat API of a real `inferline serve`, driven by the official
`openai` client (sync and async, unmodified), raw HTTP for the wire format, and jobs.

One server is shared by the module (the model loads in about a second).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from pydantic import SecretStr

from inferline.adapters.llm.openai_compatible import RemoteChatModel
from inferline.models.smollm2 import SmolLM2
from inferline.ports.llm import ChatMessage, ChatRequest
from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, http_server, sqlite_url, wait_for_job
from tests.support.requirements import missing
from tests.support.servers import metric_value

MODEL = "smollm2"
QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the capital of France?"}
]
STORY: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Write a very long story about a dragon and a knight."}
]
PENDING_LIMIT = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if reason := SmolLM2.missing_requirements():
        missing(reason)
    folder = tmp_path_factory.mktemp("chat")
    process = http_server(
        "serve",
        sqlite_url(folder / "inferline.db"),
        folder / "server.log",
        models=MODEL,
        model_plugins="inferline.models.smollm2:SmolLM2",
        max_pending_sync=str(PENDING_LIMIT),
    )
    process.start().wait_ready(timeout=110)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as chat:
        yield chat


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as session:
        yield session


def tokens_generated(http: httpx.Client) -> float:
    text = http.get("/metrics").text
    return metric_value(text, "inferline_llm_tokens_generated_total", model=MODEL) or 0.0


def test_models_lists_the_chat_model(client: openai.OpenAI) -> None:
    assert MODEL in [model.id for model in client.models.list()]


def test_a_whole_answer_and_the_same_answer_streamed(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        temperature=0,
        max_tokens=24,
    )
    answer = whole.choices[0].message.content or ""
    assert answer.strip()
    assert whole.object == "chat.completion" and whole.model == MODEL
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert whole.usage is not None and whole.usage.prompt_tokens > 10
    assert 0 < whole.usage.completion_tokens <= 24
    stream = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        temperature=0,
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == answer  # greedy: the same text, in pieces
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason and set(finishes[:-1]) == {None}
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_the_event_stream_on_the_wire(http: httpx.Client) -> None:
    body = {"model": MODEL, "messages": QUESTION, "max_tokens": 8, "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    first = json.loads(events[0][6:])
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_json_mode_answers_one_json_object(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": "Give a JSON object with the keys name and age for Bob, 41.",
            }
        ],
        response_format={"type": "json_object"},
        max_tokens=60,
    )
    content = answer.choices[0].message.content or ""
    assert isinstance(json.loads(content), dict), content


def test_stop_sequences_end_the_answer(client: openai.OpenAI) -> None:
    def ask(stop: list[str] | None = None) -> tuple[str, str]:
        answer = client.chat.completions.create(
            model=MODEL, messages=QUESTION, temperature=0, max_tokens=40, stop=stop
        )
        return answer.choices[0].message.content or "", answer.choices[0].finish_reason

    whole, _ = ask()
    words = whole.split()
    assert len(words) >= 4, whole
    stop = words[len(words) // 2]
    stopped, finish = ask(stop=[stop])
    assert stopped == whole[: whole.index(stop)] and finish == "stop"


def test_errors_have_openai_shape_and_name_the_field(
    client: openai.OpenAI, http: httpx.Client
) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-nope", messages=QUESTION)
    assert unknown.value.code == "model_not_found" and unknown.value.param == "model"
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model=MODEL, messages=[])
    assert empty.value.param == "messages" and empty.value.status_code == 400
    with pytest.raises(openai.BadRequestError) as hot:
        client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=3)
    assert hot.value.param == "temperature"
    broken = http.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    error = broken.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"


def test_a_conversation_longer_than_the_context_is_a_400(client: openai.OpenAI) -> None:
    # digits are one token each: 5,000 of them are over smollm2's 4,096-token context
    # (and under the 16,000 characters a conversation may hold)
    too_long: list[ChatCompletionMessageParam] = [{"role": "user", "content": "0123456789" * 500}]
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model=MODEL, messages=too_long, stream=stream)
        assert refused.value.status_code == 400
        assert refused.value.code == "context_length_exceeded"
        assert refused.value.param == "messages"
        assert refused.value.type == "invalid_request_error"
        message = refused.value.message
        assert f"context holds {SmolLM2.context_tokens} tokens" in message
        prompt_tokens = re.search(r"the messages are (\d+) tokens", message)
        assert prompt_tokens is not None, message
        assert int(prompt_tokens[1]) > 5000
    answer = client.chat.completions.create(model=MODEL, messages=QUESTION, max_tokens=4)
    assert answer.choices[0].message.content


def test_a_queued_chat_over_the_context_ends_dead_with_the_reason(http: httpx.Client) -> None:
    job_input = {"messages": [{"role": "user", "content": "0123456789" * 500}]}
    submitted = http.post("/api/v1/jobs", json={"model": MODEL, "input": job_input})
    assert submitted.status_code == 202, submitted.text
    job = wait_for_job(http, submitted.json()["id"], timeout=60)
    assert job["status"] == "dead", job  # every attempt refused (jobs retry any failure)
    assert f"context holds {SmolLM2.context_tokens} tokens" in job["error"]


def test_a_chat_can_be_a_queued_job(http: httpx.Client) -> None:
    job_input = {"messages": QUESTION, "max_tokens": 12, "temperature": 0}
    submitted = http.post("/api/v1/jobs", json={"model": MODEL, "input": job_input})
    assert submitted.status_code == 202, submitted.text
    job = wait_for_job(http, submitted.json()["id"], timeout=60)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["content"] and 0 < result["completion_tokens"] <= 12
    assert result["finish_reason"] in ("stop", "length")
    bad = http.post("/api/v1/jobs", json={"model": MODEL, "input": {"messages": []}})
    assert bad.status_code == 422 and "messages" in bad.text


def test_a_client_that_leaves_stops_the_generation(http: httpx.Client) -> None:
    before = tokens_generated(http)
    body = {"model": MODEL, "messages": STORY, "max_tokens": 1500, "stream": True}
    pieces = 0
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if '"content"' in line:
                pieces += 1
            if pieces >= 4:
                break  # the client closes the connection here
    # the generation ends at its next token and is counted then: far below its 1,500
    after = poll_until(
        lambda: tokens_generated(http),
        "the abandoned generation ended",
        timeout=60,
        accept=lambda value: value > before,
    )
    assert after - before < 200
    text = http.get("/metrics").text
    assert metric_value(text, "inferline_batcher_pending_items", model=MODEL) == 0


async def test_a_full_queue_answers_429_with_retry_after(server: ServerProcess) -> None:
    async with openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key="unused", max_retries=0
    ) as chat:
        calls = [
            chat.chat.completions.create(model=MODEL, messages=STORY, max_tokens=40)
            for _ in range(3 + PENDING_LIMIT + 3)
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, openai.RateLimitError)]
    answered = [o for o in outcomes if not isinstance(o, BaseException)]
    assert refused and len(answered) >= PENDING_LIMIT, outcomes
    assert len(refused) + len(answered) == len(outcomes), outcomes
    assert int(refused[0].response.headers["retry-after"]) >= 1
    assert refused[0].code == "overloaded"


def test_metrics_count_tokens_and_time_the_first_one(http: httpx.Client) -> None:
    text = http.get("/metrics").text
    assert (metric_value(text, "inferline_llm_tokens_generated_total", model=MODEL) or 0) > 0
    assert (metric_value(text, "inferline_llm_prompt_tokens_total", model=MODEL) or 0) > 0
    ttft = metric_value(text, "inferline_llm_time_to_first_token_seconds_count", model=MODEL)
    rate = metric_value(text, "inferline_llm_tokens_per_second_count", model=MODEL)
    assert ttft is not None and ttft > 0 and rate is not None and rate > 0


async def test_the_remote_adapter_talks_to_inferline_itself(server: ServerProcess) -> None:
    llm = RemoteChatModel(f"{server.url}/v1", MODEL, SecretStr("unused"), max_attempts=1)
    request = ChatRequest(
        messages=[ChatMessage(role="user", content="What is the capital of France?")],
        max_tokens=16,
    )
    whole = await llm.complete(request)
    pieces = [piece async for piece in llm.stream(request)]
    await llm.aclose()
    assert whole.content.strip() and "".join(pieces) == whole.content
    assert whole.model == MODEL and whole.completion_tokens > 0
