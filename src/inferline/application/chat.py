"""Chat completions with a served chat model: whole answers, or streamed as generated.

Both go through the model's micro-batcher on the synchronous lane, like any
inference: a full lane refuses with `Overloaded` (429), a caller that gives up
leaves it. A stream's text travels from the model thread to the event loop by a
`TokenStream`; closing the stream (the client went) cancels it, so the model
stops at its next token.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from inferline.application.token_stream import StopSignal, TokenStream
from inferline.core.validation import field_problems, problems_summary
from inferline.domain.errors import InvalidInput
from inferline.ports.chat import ChatInferenceModel, ChatInput, ChatOutput
from inferline.ports.metrics import UseCaseMetrics
from inferline.ports.serving import Lane, ModelServing, ServedModel


class ChatStream:
    """An answer's text as it is generated; `result` holds the whole answer at the end.

    Iterate it (each item is a piece of text), then read `result`. The model's errors
    (overloaded, unavailable, failed) are raised by the iteration. `aclose()` stops
    the generation when it is still running; call it in a `finally`."""

    def __init__(self, served: ServedModel, item: ChatInput) -> None:
        self.model = served.name
        self._tokens = TokenStream(asyncio.get_running_loop())
        item.stream_to(self._tokens)
        self._task: asyncio.Task[dict[str, Any]] = asyncio.ensure_future(
            served.infer(item, Lane.SYNC)
        )
        self._task.add_done_callback(lambda _: self._tokens.close())
        self._ended = False
        self.result: ChatOutput | None = None

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> str:
        if self._ended:
            raise StopAsyncIteration
        piece = await self._tokens.get()
        if piece is not None:
            return piece
        self._ended = True
        self.result = ChatOutput.model_validate(self._task.result())  # or the model's error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop the generation (if it still runs: also after the batcher gave up on it,
        e.g. while stopping) and leave the batcher."""
        self._tokens.cancel()
        if not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class ChatService:
    """The served chat models, and completions through their batchers."""

    def __init__(self, models: ModelServing, metrics: UseCaseMetrics) -> None:
        self.models = models
        self.metrics = metrics

    def chat_model(self, name: str) -> ServedModel:
        """The served model by name or alias (NotFound otherwise); it must be a chat model."""
        served = self.models.get(name)
        if not issubclass(served.model_class, ChatInferenceModel):
            raise InvalidInput(
                f"model {served.name} is not a chat model",
                details=[{"field": "model", "message": "not a chat model"}],
            )
        return served

    def chat_models(self) -> list[ServedModel]:
        """Every served chat model."""
        return [m for m in self.models.served() if issubclass(m.model_class, ChatInferenceModel)]

    def validate(self, served: ServedModel, raw: dict[str, Any]) -> ChatInput:
        """A request as the model's input; InvalidInput names the field at fault."""
        try:
            item = served.model_class.input_schema.model_validate(raw)
        except ValidationError as exc:
            problems = field_problems(exc.errors(include_url=False, include_input=False))
            raise InvalidInput(
                f"invalid request: {problems_summary(problems)}", details=problems
            ) from None
        assert isinstance(item, ChatInput)
        return item

    async def complete(self, served: ServedModel, item: ChatInput) -> ChatOutput:
        """The whole answer (through the batcher's synchronous lane). Cancelling the call
        stops the generation at its next token."""
        counter = self.metrics.sync_requests
        stop = StopSignal()
        item.stream_to(stop)
        try:
            output = await served.infer(item, Lane.SYNC)
        except asyncio.CancelledError:
            stop.cancel()
            raise
        except Exception:
            counter.labels(served.name, "error").inc()
            raise
        counter.labels(served.name, "ok").inc()
        return ChatOutput.model_validate(output)

    def stream(self, served: ServedModel, item: ChatInput) -> ChatStream:
        """The answer as it is generated (call on the event loop)."""
        return ChatStream(served, item)
