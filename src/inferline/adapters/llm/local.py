"""The LLM port over a chat model that this process serves (smollm2 by default).

Calls go through `ChatService`, so through the model's micro-batcher like any
inference: they queue behind (and are refused with) the same limits as the HTTP
API's requests, and closing a stream stops the generation. A model that is not
served, not loaded (yet) or whose batcher is full is `LLMUnavailable`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from inferline.application.chat import ChatService
from inferline.domain.errors import NotFound, Overloaded, Unavailable
from inferline.ports.chat import ChatInput, ChatOutput
from inferline.ports.llm import ChatCompletion, ChatRequest, LLMUnavailable
from inferline.ports.serving import ServedModel


class LocalChatModel:
    """A `ChatModel` answered by a served chat model."""

    def __init__(self, chat: ChatService, model: str) -> None:
        self._chat = chat
        self._model = model

    @property
    def name(self) -> str:
        return self._model

    async def complete(self, request: ChatRequest) -> ChatCompletion:
        served, item = self._prepare(request)
        try:
            output = await self._chat.complete(served, item)
        except (Overloaded, Unavailable) as exc:
            raise LLMUnavailable(f"chat model {served.name}: {exc.message}") from exc
        return _completion(served.name, output)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        served, item = self._prepare(request)
        stream = self._chat.stream(served, item)
        try:
            async for piece in stream:
                yield piece
        except (Overloaded, Unavailable) as exc:
            raise LLMUnavailable(f"chat model {served.name}: {exc.message}") from exc
        finally:
            await stream.aclose()

    def _prepare(self, request: ChatRequest) -> tuple[ServedModel, ChatInput]:
        try:
            served = self._chat.chat_model(self._model)
        except NotFound as exc:
            raise LLMUnavailable(f"chat model {self._model} is not served here") from exc
        if not served.loaded:
            why = f": {served.load_error}" if served.load_error else " yet"
            raise LLMUnavailable(f"chat model {served.name} is not loaded{why}")
        return served, self._chat.validate(served, request.model_dump())


def _completion(model: str, output: ChatOutput) -> ChatCompletion:
    return ChatCompletion(
        model=model,
        content=output.content,
        finish_reason=output.finish_reason,
        prompt_tokens=output.prompt_tokens,
        completion_tokens=output.completion_tokens,
    )
