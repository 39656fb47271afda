"""The chat model of a deployment without one: every call says why, so that features
that need an LLM can say so in their answer instead of failing."""

from __future__ import annotations

from collections.abc import AsyncIterator

from inferline.ports.llm import ChatCompletion, ChatRequest, LLMUnavailable


class NoChatModel:
    """A `ChatModel` that raises `LLMUnavailable(reason)` on every call."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    @property
    def name(self) -> str:
        return "none"

    async def complete(self, request: ChatRequest) -> ChatCompletion:
        raise LLMUnavailable(self.reason)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        raise LLMUnavailable(self.reason)
        yield ""  # pragma: no cover - makes this an async generator, like the others
