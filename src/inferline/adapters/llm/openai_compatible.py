"""The LLM port over any OpenAI-compatible endpoint: OpenAI, vLLM, Ollama, llama.cpp's
server, or another Inferline.

One pooled `httpx.AsyncClient` per endpoint; a semaphore bounds the calls in
flight; each attempt has a timeout. Connection errors, timeouts, 429 and 5xx are
retried with exponential backoff and full jitter (tenacity), honouring a
Retry-After; a stream is retried only until its answer starts. A circuit breaker
counts failed attempts: after `breaker_failures` in a row it opens and calls fail
at once with `LLMUnavailable` until a trial call succeeds after the cool-down.
Other 4xx answers (a bad key, an unknown model) are not retried and are
`LLMUnavailable` with the endpoint's message. The API key is a `SecretStr`: it is
read only to build the Authorization header and is never logged or shown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from inferline.application.resilience import CircuitBreaker
from inferline.ports.llm import ChatCompletion, ChatRequest, LLMUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class _Retryable(Exception):
    """An attempt that failed in a way worth another try."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RemoteChatModel:
    """A `ChatModel` at an OpenAI-compatible `base_url` (ending in `/v1`)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: SecretStr | None = None,
        *,
        timeout_seconds: float = 60.0,
        max_concurrency: int = 8,
        max_attempts: int = 4,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 10.0,
        breaker_failures: int = 5,
        breaker_reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._model = model
        self._api_key = api_key
        self._endpoint = _describe(base_url)
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            limits=httpx.Limits(
                max_connections=max_concurrency, max_keepalive_connections=max_concurrency
            ),
        )
        self._slots = asyncio.Semaphore(max_concurrency)
        self._max_attempts = max_attempts
        self._backoff = wait_random_exponential(multiplier=backoff_seconds, max=max_backoff_seconds)
        self._max_backoff = max_backoff_seconds
        self.breaker = CircuitBreaker(
            self._endpoint,
            failure_threshold=breaker_failures,
            reset_seconds=breaker_reset_seconds,
            clock=clock,
            error=LLMUnavailable,
        )

    def __repr__(self) -> str:  # never the key
        return f"RemoteChatModel({self._endpoint!r}, model={self._model!r})"

    @property
    def name(self) -> str:
        return self._model

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- the port ----------------------------------------------------------------
    async def complete(self, request: ChatRequest) -> ChatCompletion:
        body = self._body(request, stream=False)
        async with self._slots:
            response = await self._with_retries(lambda: self._send(body, stream=False))
        try:
            data = response.json()
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            return ChatCompletion(
                model=str(data.get("model") or self._model),
                content=choice["message"].get("content") or "",
                finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMUnavailable(
                f"{self._endpoint} answered something that is not a chat completion: {exc!r}"
            ) from exc

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        body = self._body(request, stream=True)
        async with self._slots:
            response = await self._with_retries(lambda: self._send(body, stream=True))
            try:
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    for piece in _pieces(data, self._endpoint):
                        yield piece
            except httpx.HTTPError as exc:
                self.breaker.failed()
                raise LLMUnavailable(f"{self._endpoint} broke off the answer: {exc!r}") from exc
            finally:
                await response.aclose()

    # -- attempts ----------------------------------------------------------------
    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [message.model_dump() for message in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stream": stream,
        }
        if request.stop:
            body["stop"] = request.stop
        if request.json_output:
            body["response_format"] = {"type": "json_object"}
        return body

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for round_ in retrying:
                with round_:
                    return await self._guarded(attempt)
        except _Retryable as exc:
            raise LLMUnavailable(f"{self._endpoint}: {exc}") from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _guarded(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """One attempt under the circuit breaker."""
        self.breaker.before_call()
        outcome = False
        try:
            result = await attempt()
            outcome = True
            self.breaker.succeeded()
            return result
        except _Retryable:
            outcome = True
            self.breaker.failed()
            raise
        finally:
            if not outcome:  # cancelled, or refused without a verdict on the endpoint
                self.breaker.abandoned()

    async def _send(self, body: dict[str, Any], *, stream: bool) -> httpx.Response:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        request = self._client.build_request("POST", "chat/completions", json=body, headers=headers)
        try:
            response = await self._client.send(request, stream=stream)
        except httpx.TransportError as exc:  # connect, read, write, pool timeouts too
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response
        await response.aread()
        await response.aclose()
        message = _error_message(response)
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(message, _retry_after(response))
        raise LLMUnavailable(f"{self._endpoint} refused the request: {message}")

    def _wait(self, state: RetryCallState) -> float:
        backoff = self._backoff(state)
        error = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(error, "retry_after", None) or 0.0
        return min(max(backoff, asked), max(self._max_backoff, asked))

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "chat model %s at %s: attempt %d failed (%s); retrying in %.2f s",
            self._model,
            self._endpoint,
            state.attempt_number,
            error,
            wait,
        )


def _pieces(data: str, endpoint: str) -> list[str]:
    """The text pieces of one `chat.completion.chunk` event."""
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise LLMUnavailable(f"{endpoint} sent an event that is not JSON: {data[:200]!r}") from exc
    if isinstance(chunk, dict) and "error" in chunk:
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise LLMUnavailable(f"{endpoint} failed during the answer: {message}")
    pieces = []
    for choice in chunk.get("choices") or []:
        text = (choice.get("delta") or {}).get("content")
        if text:
            pieces.append(str(text))
    return pieces


def _error_message(response: httpx.Response) -> str:
    """`HTTP 429: <the endpoint's error message>` (OpenAI's shape, or the body's start)."""
    detail = response.text[:300]
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            detail = str(error["message"])
        elif isinstance(error, str):
            detail = error
    except (ValueError, AttributeError):
        pass
    return f"HTTP {response.status_code}: {detail}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the backoff decides


def _describe(base_url: str) -> str:
    """The endpoint for messages and logs: scheme, host and path, never credentials."""
    parts = urlsplit(base_url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"
