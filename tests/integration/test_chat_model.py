"""SmolLM2 served in this process: the local LLM adapter, streaming, cancellation, metrics.

The model is real (llama.cpp, 135M parameters): one instance loads per module in
about a second. Generation goes through its micro-batcher like any inference.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from inferline.adapters.llm.local import LocalChatModel
from inferline.adapters.llm.unavailable import NoChatModel
from inferline.application.chat import ChatService
from inferline.bootstrap import build_chat_model, chat_model_factories
from inferline.core.metrics import Metrics
from inferline.core.settings import Settings
from inferline.domain.errors import ErrorKind
from inferline.models.smollm2 import SmolLM2
from inferline.ports.chat import ChatInput, ContextLengthExceeded
from inferline.ports.llm import ChatMessage, ChatRequest, LLMUnavailable
from inferline.runtime.registry import ModelRegistry
from inferline.runtime.serving import ModelServer
from inferline.testing.polling import poll_until_async
from tests.support.requirements import missing

pytestmark = pytest.mark.timeout(120)

QUESTION = [ChatMessage(role="user", content="What is the capital of France?")]
STORY = [{"role": "user", "content": "Write a very long story about a dragon."}]


def _settings() -> Settings:
    return Settings(models=["smollm2"], max_pending_sync=2)


@pytest.fixture
async def served() -> AsyncIterator[tuple[ChatService, Metrics]]:
    if reason := SmolLM2.missing_requirements():
        missing(reason)
    metrics = Metrics()
    models = ModelServer(
        ModelRegistry([SmolLM2]), _settings(), metrics, factories=chat_model_factories(metrics)
    )
    await models.load_all()
    assert models.all_loaded, models.get("smollm2").load_error
    yield ChatService(models, metrics), metrics
    await models.stop()


def generated_tokens(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value(
        "inferline_llm_tokens_generated_total", {"model": "smollm2"}
    )
    return value or 0.0


async def test_the_local_adapter_answers_whole_and_streamed_alike(
    served: tuple[ChatService, Metrics],
) -> None:
    chat, metrics = served
    llm = build_chat_model(_settings(), chat)
    assert isinstance(llm, LocalChatModel) and llm.name == "smollm2"
    request = ChatRequest(messages=QUESTION, temperature=0.0, max_tokens=24)
    whole = await llm.complete(request)
    assert whole.content.strip()
    assert whole.model == "smollm2" and whole.finish_reason in ("stop", "length")
    assert whole.prompt_tokens > 10 and 0 < whole.completion_tokens <= 24
    pieces = [piece async for piece in llm.stream(request)]
    assert len(pieces) > 1  # it came in pieces
    assert "".join(pieces) == whole.content  # greedy decoding: the same answer
    assert generated_tokens(metrics) >= 2 * whole.completion_tokens - 2
    ttft = metrics.registry.get_sample_value(
        "inferline_llm_time_to_first_token_seconds_count", {"model": "smollm2"}
    )
    rate = metrics.registry.get_sample_value(
        "inferline_llm_tokens_per_second_count", {"model": "smollm2"}
    )
    assert ttft is not None and ttft >= 2 and rate is not None and rate >= 2
    batches = metrics.registry.get_sample_value(
        "inferline_batch_service_seconds_count", {"model": "smollm2"}
    )
    assert batches == 2  # each went through the batcher (the warm-up did not)


async def test_json_output_is_one_json_object(served: tuple[ChatService, Metrics]) -> None:
    chat, _ = served
    llm = LocalChatModel(chat, "smollm2")
    answer = await llm.complete(
        ChatRequest(
            messages=[
                ChatMessage(
                    role="user",
                    content="Give a JSON object with the keys name and age for Alice, 30.",
                )
            ],
            max_tokens=60,
            json_output=True,
        )
    )
    assert isinstance(json.loads(answer.content), dict), answer.content


async def test_a_conversation_over_the_context_is_refused_with_its_token_count(
    served: tuple[ChatService, Metrics],
) -> None:
    chat, _ = served
    served_model = chat.chat_model("smollm2")
    digits = [{"role": "user", "content": "0123456789" * 500}]  # a token per digit
    item = chat.validate(served_model, {"messages": digits})
    with pytest.raises(ContextLengthExceeded) as refused:
        await chat.complete(served_model, item)
    assert refused.value.kind is ErrorKind.INVALID
    assert refused.value.limit == SmolLM2.context_tokens
    assert refused.value.prompt_tokens > 5000
    answer = await chat.complete(
        served_model, chat.validate(served_model, {"messages": STORY, "max_tokens": 4})
    )
    assert answer.content  # the model still answers the next one


async def test_closing_a_stream_stops_the_generation(served: tuple[ChatService, Metrics]) -> None:
    chat, metrics = served
    served_model = chat.chat_model("smollm2")
    before = generated_tokens(metrics)
    stream = chat.stream(
        served_model, chat.validate(served_model, {"messages": STORY, "max_tokens": 400})
    )
    received = [await stream.__anext__() for _ in range(3)]
    assert all(received)
    await stream.aclose()
    # the generation ends at its next token and is counted then: far below its 400
    await poll_until_async(
        lambda: generated_tokens(metrics) > before, "the cancelled generation ended", timeout=30
    )
    assert generated_tokens(metrics) - before < 40
    assert served_model.loaded
    assert served_model.pending == 0


def batches(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value(
        "inferline_batch_service_seconds_count", {"model": "smollm2"}
    )
    return value or 0.0


async def test_cancelling_a_whole_answer_stops_the_generation(
    served: tuple[ChatService, Metrics],
) -> None:
    chat, metrics = served
    served_model = chat.chat_model("smollm2")
    assert served_model.loaded
    before_tokens, before_batches = generated_tokens(metrics), batches(metrics)
    item = chat.validate(served_model, {"messages": STORY, "max_tokens": 400})
    submitted = asyncio.Event()

    async def caller() -> None:
        submitted.set()  # then, without yielding, the item enters the lane
        await chat.complete(served_model, item)

    call = asyncio.ensure_future(caller())
    await submitted.wait()
    await poll_until_async(
        lambda: served_model.loaded and served_model.pending == 0,
        "the item is in a batch",
        timeout=10,
        interval=0.001,
    )
    call.cancel()  # the caller gives up while the model generates
    await asyncio.gather(call, return_exceptions=True)
    await poll_until_async(
        lambda: batches(metrics) > before_batches, "the cancelled batch ended", timeout=30
    )
    assert generated_tokens(metrics) - before_tokens < 40


async def test_a_full_batcher_is_unavailable_to_the_port_not_an_error(
    served: tuple[ChatService, Metrics],
) -> None:
    chat, _ = served
    served_model = chat.chat_model("smollm2")
    assert served_model.loaded
    llm = LocalChatModel(chat, "smollm2")
    long_one = chat.stream(
        served_model, chat.validate(served_model, {"messages": STORY, "max_tokens": 200})
    )
    try:
        await long_one.__anext__()  # it runs: the next ones wait in the lane
        limit = served_model.batching.max_pending_sync
        waiting = [
            chat.stream(served_model, chat.validate(served_model, {"messages": STORY}))
            for _ in range(limit)
        ]
        await poll_until_async(
            lambda: served_model.loaded and served_model.pending == limit,
            "the lane is full",
            timeout=10,
        )
        with pytest.raises(LLMUnavailable, match="requests waiting"):
            await llm.complete(ChatRequest(messages=QUESTION, max_tokens=4))
        for stream in waiting:
            await stream.aclose()
    finally:
        await long_one.aclose()


async def test_without_a_served_chat_model_the_port_says_why() -> None:
    metrics = Metrics()
    models = ModelServer(ModelRegistry([]), Settings(), metrics)
    llm = build_chat_model(Settings(), ChatService(models, metrics))
    assert isinstance(llm, NoChatModel)
    with pytest.raises(LLMUnavailable, match="INFERLINE_LLM_URL"):
        await llm.complete(ChatRequest(messages=QUESTION))
    with pytest.raises(LLMUnavailable, match="INFERLINE_LLM_URL"):
        async for _ in llm.stream(ChatRequest(messages=QUESTION)):
            pass


async def test_a_chat_model_not_loaded_yet_is_unavailable() -> None:
    metrics = Metrics()
    models = ModelServer(ModelRegistry([SmolLM2]), _settings(), metrics)
    llm = LocalChatModel(ChatService(models, metrics), "smollm2")
    with pytest.raises(LLMUnavailable, match="not loaded yet"):
        await llm.complete(ChatRequest(messages=QUESTION))
    assert ChatInput.model_validate({"messages": STORY}).max_tokens == 256
