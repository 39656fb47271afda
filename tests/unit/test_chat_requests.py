"""OpenAI chat requests as served chat-model inputs: mapping, defaults and limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inferline.api.chat_schemas import DEFAULT_MAX_TOKENS, ChatCompletionRequest
from inferline.ports.chat import MAX_CONVERSATION_CHARS, ChatInput
from inferline.ports.llm import ChatMessage, ChatRequest


def test_an_openai_request_becomes_the_model_input() -> None:
    request = ChatCompletionRequest.model_validate(
        {
            "model": "smollm2",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}],
                },
                {"role": "assistant", "content": None},
            ],
            "max_completion_tokens": 9,
            "max_tokens": 50,
            "stop": "\n",
            "response_format": {"type": "json_object"},
            "top_p": 0.5,  # not honoured, not refused
            "seed": 7,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    item = ChatInput.model_validate(request.model_input())
    assert [(m.role, m.content) for m in item.messages] == [
        ("system", "Be brief."),
        ("user", "Hi there"),
        ("assistant", ""),
    ]
    assert (item.max_tokens, item.stop, item.json_output) == (9, ["\n"], True)
    assert item.temperature == 1.0  # OpenAI's default
    assert request.include_usage


def test_defaults_without_optional_fields() -> None:
    request = ChatCompletionRequest.model_validate(
        {"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}]}
    )
    item = ChatInput.model_validate(request.model_input())
    assert (item.max_tokens, item.stop, item.json_output) == (DEFAULT_MAX_TOKENS, [], False)
    assert not request.stream and not request.include_usage


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"messages": []}, "messages"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -1}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"n": 2}, "n"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
    ],
)
def test_what_cannot_be_served_is_refused_by_field(change: dict[str, object], field: str) -> None:
    body = {"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], **change}
    with pytest.raises(ValidationError) as caught:
        ChatCompletionRequest.model_validate(body)
    assert {str(error["loc"][0]) for error in caught.value.errors()} == {field}


def test_model_input_limits() -> None:
    too_long = [{"role": "user", "content": "x" * (MAX_CONVERSATION_CHARS + 1)}]
    with pytest.raises(ValidationError, match="characters"):
        ChatInput.model_validate({"messages": too_long})
    with pytest.raises(ValidationError, match="stop sequences must not be empty"):
        ChatInput.model_validate({"messages": [{"role": "user", "content": "x"}], "stop": [""]})
    with pytest.raises(ValidationError):
        ChatInput.model_validate({"messages": [{"role": "user", "content": "x"}], "extra": 1})


def test_a_port_request_converts_to_the_model_input() -> None:
    request = ChatRequest(
        messages=[ChatMessage(role="user", content="Hi")], max_tokens=12, json_output=True
    )
    item = ChatInput.from_request(request)
    assert (item.max_tokens, item.json_output, item.sink) == (12, True, None)
