"""The chat-model contract: what features that need an LLM rely on.

Two kinds of adapter stand behind it: a chat model that Inferline serves itself
(generation goes through that model's batcher, like any inference), and any
OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp's server). A feature
asks for a `ChatModel` and never knows which one it got; when none is configured
it gets none and says so in its answer (`LLMUnavailable`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, Protocol

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length"]


class ChatMessage(BaseModel):
    role: Role
    content: str


class ChatRequest(BaseModel):
    """One chat completion: the conversation so far and how to sample the answer."""

    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=256, ge=1)
    stop: list[str] = Field(default_factory=list)
    json_output: bool = Field(
        default=False, description="Answer one JSON object (OpenAI's response_format json_object)."
    )


class ChatCompletion(BaseModel):
    """The whole answer, with the token counts that usage reports need."""

    model: str
    content: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


class LLMUnavailable(Exception):
    """No chat model is configured, or the configured one cannot be reached now."""


class ChatModel(Protocol):
    """A chat model: the whole answer at once, or its text as it is generated."""

    @property
    def name(self) -> str: ...

    async def complete(self, request: ChatRequest) -> ChatCompletion: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        """The answer's text in pieces, as they are generated; closing the iterator
        stops the generation."""
        ...
