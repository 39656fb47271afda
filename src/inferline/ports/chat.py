"""The served chat-model contract: what the chat use cases rely on.

A chat model is an ordinary `InferenceModel` (one micro-batcher, queued jobs, the
same 429 when too much waits) whose input is a conversation and whose output is
the assistant's answer with its token counts. One thing is extra: an input may
carry a `TokenSink`, and then the model hands it each piece of text as it is
generated, in the model's thread, and stops early once the sink is cancelled.
That is how `stream: true` and the client's disconnect reach the model.
"""

from __future__ import annotations

import time
from typing import ClassVar, Protocol

from pydantic import Field, PrivateAttr, field_validator

from inferline.domain.errors import InvalidInput
from inferline.ports.llm import ChatMessage, ChatRequest, FinishReason
from inferline.ports.model import InferenceModel, ModelInput, ModelOutput

MAX_MESSAGES = 256
MAX_CONVERSATION_CHARS = 16_000
MAX_STOP_SEQUENCES = 4
MAX_NEW_TOKENS = 2048


class TokenSink(Protocol):
    """Where a generating model puts its text as it goes (called from the model thread)."""

    def put(self, text: str) -> None: ...

    @property
    def cancelled(self) -> bool:
        """True once nobody wants more text: the model stops at its next token."""
        ...


class ChatInput(ModelInput):
    """One chat completion, as a model input (and a job's `input`)."""

    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, ge=1, le=MAX_NEW_TOKENS)
    stop: list[str] = Field(default_factory=list, max_length=MAX_STOP_SEQUENCES)
    json_output: bool = Field(default=False, description="Answer one JSON object.")

    _sink: TokenSink | None = PrivateAttr(default=None)
    _accepted_at: float = PrivateAttr(default_factory=time.perf_counter)

    @field_validator("messages")
    @classmethod
    def _fits(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        chars = sum(len(message.content) for message in messages)
        if chars > MAX_CONVERSATION_CHARS:
            raise ValueError(
                f"the messages hold {chars} characters; at most {MAX_CONVERSATION_CHARS}"
            )
        return messages

    @field_validator("stop")
    @classmethod
    def _stops_not_empty(cls, stop: list[str]) -> list[str]:
        if any(not sequence for sequence in stop):
            raise ValueError("stop sequences must not be empty")
        return stop

    @classmethod
    def from_request(cls, request: ChatRequest) -> ChatInput:
        """The model input of a port-level request (validated against this model's limits)."""
        return cls.model_validate(request.model_dump())

    def stream_to(self, sink: TokenSink) -> None:
        """Hand the generated text to `sink` as it comes (not part of the input's data)."""
        self._sink = sink

    @property
    def sink(self) -> TokenSink | None:
        return self._sink

    @property
    def accepted_at(self) -> float:
        """`time.perf_counter()` when the input was accepted: time to first token starts here."""
        return self._accepted_at


class ChatOutput(ModelOutput):
    """The assistant's answer."""

    content: str
    finish_reason: FinishReason = Field(
        description="`stop`: the model ended (or a stop sequence came); `length`: max_tokens."
    )
    prompt_tokens: int = Field(description="Tokens of the formatted conversation.")
    completion_tokens: int = Field(
        description="Tokens of the answer (the end-of-sequence token not counted)."
    )


class ContextLengthExceeded(InvalidInput):
    """The conversation does not fit in the model's context (with room for one token of
    answer): the caller must shorten it. Raised by the model, which alone can count the
    formatted conversation's tokens."""

    code = "context_length_exceeded"

    def __init__(self, model: str, *, limit: int, prompt_tokens: int) -> None:
        problem = (
            f"the messages are {prompt_tokens} tokens; model {model}'s context holds "
            f"{limit} tokens, the answer included: shorten the messages"
        )
        super().__init__(problem, details=[{"field": "messages", "message": problem}])
        self.limit = limit
        self.prompt_tokens = prompt_tokens


class ChatInferenceModel(InferenceModel):
    """Base of chat models: conversations in, answers out, text streamed to a sink."""

    input_schema = ChatInput
    output_schema = ChatOutput
    context_tokens: ClassVar[int]
