"""The OpenAI-compatible chat API: `POST /v1/chat/completions`, whole or streamed.

The official `openai` client works unmodified: answers are `chat.completion`
objects, `stream: true` sends `chat.completion.chunk` server-sent events ending
with `data: [DONE]`, and errors have OpenAI's shape with the usual statuses (400
for a bad request, naming the `param`; 404 for an unknown model; 429 with
Retry-After when the model's batcher is full; 503 while it loads).

A client that leaves stops the generation: while the answer waits for its first
token, `unless_disconnected` watches the connection; once it streams, the
response closes the token stream whatever ends it (the end, an error, or
Starlette cancelling it on `http.disconnect`), and the model stops at its next
token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from inferline.api.chat_schemas import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    OpenAIErrorBody,
)
from inferline.api.deps import PlaneDep
from inferline.api.disconnect import unless_disconnected
from inferline.api.errors import STATUS_BY_KIND
from inferline.api.schemas import ErrorBody
from inferline.application.chat import ChatStream
from inferline.core.validation import field_problems, problems_summary
from inferline.domain.errors import ErrorKind, InferlineError
from inferline.ports.chat import ChatOutput, ContextLengthExceeded

_ERROR_TYPE = {
    ErrorKind.INVALID: "invalid_request_error",
    ErrorKind.NOT_FOUND: "invalid_request_error",
    ErrorKind.OVERLOADED: "rate_limit_error",
    ErrorKind.RATE_LIMITED: "rate_limit_error",
    ErrorKind.UNAUTHENTICATED: "authentication_error",
    ErrorKind.FORBIDDEN: "permission_error",
    ErrorKind.UNAVAILABLE: "service_unavailable_error",
    ErrorKind.DEADLINE_EXCEEDED: "timeout_error",
}
_REQUEST_PARTS = frozenset({"body", "query", "path"})
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def openai_error(
    status: int,
    message: str,
    *,
    type_: str,
    param: str | None = None,
    code: str | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    """An error in OpenAI's shape (its clients read `error.message`)."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return JSONResponse(body, status_code=status, headers=headers)


def _from_inferline(exc: InferlineError) -> JSONResponse:
    status = STATUS_BY_KIND[exc.kind]
    if exc.kind is ErrorKind.INVALID:
        status = 400  # OpenAI's status for a request it will not run
    param = None
    if isinstance(exc.details, list) and exc.details and isinstance(exc.details[0], dict):
        param = exc.details[0].get("field")
    elif exc.kind is ErrorKind.NOT_FOUND:
        param = "model"
    code = "model_not_found" if exc.kind is ErrorKind.NOT_FOUND else exc.kind.value
    if isinstance(exc, ContextLengthExceeded):
        code = exc.code
    response = openai_error(
        status,
        exc.message,
        type_=_ERROR_TYPE.get(exc.kind, "server_error"),
        param=param,
        code=code,
        retry_after=exc.retry_after,
    )
    if exc.kind is ErrorKind.UNAUTHENTICATED:
        response.headers["WWW-Authenticate"] = 'Bearer realm="inferline"'
    return response


class OpenAIRoute(APIRoute):
    """A route whose errors have OpenAI's shape instead of Inferline's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                problems = field_problems(exc.errors(), skip=_REQUEST_PARTS)
                return openai_error(
                    400,
                    f"invalid request: {problems_summary(problems)}",
                    type_="invalid_request_error",
                    param=problems[0]["field"] if problems else None,
                    code="invalid_input",
                )
            except InferlineError as exc:
                return _from_inferline(exc)

        return handle


router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], route_class=OpenAIRoute)


def _declared_errors() -> dict[int | str, dict[str, Any]]:
    errors: dict[int | str, dict[str, Any]] = {
        400: {"model": OpenAIErrorBody, "description": "Invalid request; `param` names the field."},
        404: {"model": OpenAIErrorBody, "description": "Unknown model."},
        413: {"model": ErrorBody, "description": "The body is over INFERLINE_MAX_BODY_BYTES."},
        429: {"model": OpenAIErrorBody, "description": "The model's queue is full."},
        500: {"model": OpenAIErrorBody, "description": "The model failed on this request."},
        503: {"model": OpenAIErrorBody, "description": "The model is not loaded (yet)."},
        504: {"model": OpenAIErrorBody, "description": "The request's deadline passed."},
    }
    for status in (429, 503):
        errors[status]["headers"] = _RETRY_AFTER
    return errors


@router.post(
    "/chat/completions",
    summary="Create a chat completion (OpenAI API)",
    response_model=ChatCompletionResponse,
    responses={
        200: {
            "description": "The answer; with `stream: true`, server-sent events of "
            "`chat.completion.chunk` objects ending with `data: [DONE]`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **_declared_errors(),
    },
)
async def create_chat_completion(
    body: ChatCompletionRequest, request: Request, plane: PlaneDep
) -> Response:
    served = plane.chat_model(body.model)
    item = plane.chat_input(served, body.model_input())
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        stream = plane.stream_chat(served, item)
        try:
            first = await unless_disconnected(request, _first_piece(stream))
        except BaseException:
            await stream.aclose()
            raise
        chunks = _Chunks(completion_id, created, served.name, body.include_usage)
        return EventStreamResponse(_events(stream, first, chunks))
    output = await unless_disconnected(request, plane.complete_chat(served, item))
    return JSONResponse(_completion(completion_id, created, served.name, output))


def _completion(completion_id: str, created: int, model: str, output: ChatOutput) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": output.content},
                "finish_reason": output.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": _usage(output),
        "system_fingerprint": None,
    }


def _usage(output: ChatOutput) -> dict[str, int]:
    return {
        "prompt_tokens": output.prompt_tokens,
        "completion_tokens": output.completion_tokens,
        "total_tokens": output.prompt_tokens + output.completion_tokens,
    }


async def _first_piece(stream: ChatStream) -> str | None:
    """The first piece of text (None when the answer is empty); errors come out here,
    before the response starts, so they get their own status (429, 503, ...)."""
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


class _Chunks:
    """`chat.completion.chunk` events of one answer."""

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        self.head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        self.include_usage = include_usage

    def delta(self, delta: dict[str, str], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk: dict[str, Any] = {**self.head, "choices": [choice]}
        if self.include_usage:
            chunk["usage"] = None
        return _event(chunk)

    def usage(self, output: ChatOutput) -> bytes:
        return _event({**self.head, "choices": [], "usage": _usage(output)})


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def _events(
    stream: ChatStream, first: str | None, chunks: _Chunks
) -> AsyncGenerator[bytes, None]:
    try:
        yield chunks.delta({"role": "assistant", "content": ""})
        if first is not None:
            yield chunks.delta({"content": first})
        async for piece in stream:
            yield chunks.delta({"content": piece})
        assert stream.result is not None
        yield chunks.delta({}, finish_reason=stream.result.finish_reason)
        if chunks.include_usage:
            yield chunks.usage(stream.result)
        yield b"data: [DONE]\n\n"
    except InferlineError as exc:  # the status is sent already: the error is an event
        yield _event(orjson.loads(_from_inferline(exc).body))
    finally:
        await stream.aclose()


class EventStreamResponse(StreamingResponse):
    """Server-sent events whose generator is closed however the response ends, so that
    a client's disconnect (Starlette cancels the sending) stops the generation at once."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None]) -> None:
        super().__init__(events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._events.aclose()
