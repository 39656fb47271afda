"""A scripted OpenAI-compatible endpoint: a real HTTP server (uvicorn, in the test's event
loop) that records every request and answers what the test scripted, in order."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from inferline.testing.polling import poll_until_async
from inferline.testing.server import free_port


@dataclass
class Answer:
    """One scripted answer: a status and JSON (or raw text) body, or SSE events."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[str] | None = None
    delay: float = 0.0


def completion(content: str, *, model: str = "remote-model") -> Answer:
    """A successful chat completion answering `content`."""
    return Answer(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }
    )


def failure(status: int, message: str = "scripted failure", **headers: str) -> Answer:
    """An error in OpenAI's shape."""
    return Answer(status, {"error": {"message": message, "type": "server_error"}}, headers)


def stream_of(*pieces: str, error: str | None = None) -> Answer:
    """SSE chunks with these pieces, then `[DONE]` (or an error event instead)."""
    events = [
        json.dumps({"object": "chat.completion.chunk", "choices": [{"delta": {"content": p}}]})
        for p in pieces
    ]
    events.append(json.dumps({"error": {"message": error}}) if error else "[DONE]")
    return Answer(events=events)


@dataclass
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedEndpoint:
    """Answers `POST /v1/chat/completions` from `script` (then a plain "ok" completion)."""

    def __init__(self) -> None:
        self.script: deque[Answer] = deque()
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._answer)

    def then(self, *answers: Answer) -> ScriptedEndpoint:
        self.script.extend(answers)
        return self

    async def _answer(self, request: Request) -> Response:
        self.requests.append(Recorded(dict(request.headers), await request.json()))
        answer = self.script.popleft() if self.script else completion("ok")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if answer.delay:
                await asyncio.sleep(answer.delay)  # the scripted slowness under test
        finally:
            self.in_flight -= 1
        if answer.events is not None:
            events = answer.events

            async def sse() -> AsyncIterator[bytes]:
                for event in events:
                    yield f"data: {event}\n\n".encode()

            return StreamingResponse(sse(), media_type="text/event-stream")
        if isinstance(answer.body, str):
            return Response(answer.body, answer.status, answer.headers, "text/plain")
        return Response(json.dumps(answer.body), answer.status, answer.headers, "application/json")


@asynccontextmanager
async def serving(endpoint: ScriptedEndpoint) -> AsyncIterator[str]:
    """Serve `endpoint` on a free port; yields its base URL (`http://127.0.0.1:PORT/v1`)."""
    port = free_port()
    config = uvicorn.Config(
        endpoint.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await poll_until_async(lambda: server.started, "the scripted endpoint started", timeout=10)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        await task
