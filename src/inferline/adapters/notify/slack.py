"""Slack incoming webhooks through `slack_sdk`'s async webhook client, with our own retries.

Retries: 429 waits what `Retry-After` says (when it says longer than
`max_retry_after_seconds`, the message fails at once rather than hold every later one);
5xx, a dropped connection and a timeout back off exponentially with jitter
(`application.resilience.Retry`: 1 s doubling to 30 s, up to half of each wait taken off
at random), `retry.attempts` tries in all; any other 4xx (a revoked webhook's 404, a
malformed payload's 400) fails at once. slack_sdk's own retry handlers are not used:
the webhook client consults them only on 429 and on exceptions, so a 5xx answer is
never retried by them; their waits sleep on the real clock with no bound on
`Retry-After`; and they log the webhook's URL at INFO on every retry.

The URL is the webhook's credential (whoever has it can post to the channel), so it is
never logged, never in an exception's text (errors from the HTTP client are redacted and
raised without their cause) and never in a repr. The client is given a logger of its own
that writes nothing, since slack_sdk logs the URL at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from inferline.application.resilience import Retry
from inferline.ports.notifications import Notification, NotificationFailed

log = logging.getLogger(__name__)

SLACK_RETRY = Retry(attempts=5, min_seconds=1.0, max_seconds=30.0, jitter=0.5)
"""5 tries; waits of 1, 2, 4, 8 s (each up to half shorter at random)."""

REDACTED = "<webhook>"


def _silent_logger() -> logging.Logger:
    """A logger outside the logging tree that emits nothing, for slack_sdk's client: it
    writes the webhook URL into its DEBUG lines, and at INFO when a retry handler runs."""
    silent = logging.Logger("inferline.slack_sdk.silenced", level=logging.CRITICAL + 1)
    silent.addHandler(logging.NullHandler())
    silent.propagate = False
    return silent


_SILENT = _silent_logger()


class SlackWebhookNotifier:
    """A `Notifier` posting to one Slack incoming webhook (`url`, a secret)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = 10.0,
        retry: Retry = SLACK_RETRY,
        max_retry_after_seconds: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(
                "a Slack webhook URL is https://<host>/<path> (the value is not shown)"
            )
        if retry.attempts < 1:
            raise ValueError("retry.attempts must be at least 1")
        self._url = url
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        self._where = f"{parts.scheme}://{host}"
        # What must never be shown: the whole URL, and its path (the webhook's token).
        self._secrets = tuple(s for s in (url, parts.path.strip("/")) if s)
        self._timeout = timeout_seconds
        self._retry = retry
        self._max_retry_after = max_retry_after_seconds
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._webhook: AsyncWebhookClient | None = None

    @property
    def name(self) -> str:
        return "slack"

    @property
    def enabled(self) -> bool:
        return True

    def describe(self) -> str:
        return f"Slack incoming webhook at {self._where} (the webhook's path is secret)"

    def __repr__(self) -> str:
        return f"SlackWebhookNotifier({self._where}/{REDACTED})"

    async def post(self, message: Notification) -> None:
        body: dict[str, Any] = {"text": message.text}
        if message.blocks:
            body["blocks"] = [dict(block) for block in message.blocks]
        webhook = self._client()
        attempt = 0
        while True:
            attempt += 1
            failure, wait = await self._try(webhook, body, attempt)
            if failure is None:
                return
            if wait is None or attempt >= self._retry.attempts:
                if failure.retryable:
                    failure = NotificationFailed(
                        f"{failure}; gave up after {attempt} tries",
                        status=failure.status,
                        attempts=attempt,
                        retryable=True,
                    )
                raise failure
            log.info("Slack webhook: try %d failed (%s); again in %.1f s", attempt, failure, wait)
            await self._sleep(wait)

    async def _try(
        self, webhook: AsyncWebhookClient, body: dict[str, Any], attempt: int
    ) -> tuple[NotificationFailed | None, float | None]:
        """One try: (None, None) when delivered; else the failure and how long to wait
        before the next try (None: do not try again)."""
        try:
            response = await webhook.send_dict(body)
        except Exception as exc:  # whatever the HTTP client raises: refused, reset, timeout
            reason = self._redact(
                f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            )
            failure = NotificationFailed(
                f"Slack webhook unreachable ({reason})", attempts=attempt, retryable=True
            )
            return failure, self._retry.wait(attempt)
        status = response.status_code
        if 200 <= status < 300:
            return None, None
        answer = self._redact(str(response.body or "").strip()[:200]) or "no body"
        if status == 429:
            retry_after = retry_after_seconds(response.headers)
            if retry_after is not None and retry_after > self._max_retry_after:
                failure = NotificationFailed(
                    f"Slack rate-limits the webhook for {retry_after:.0f} s, longer than the "
                    f"{self._max_retry_after:g} s a message waits (HTTP 429)",
                    status=status,
                    attempts=attempt,
                    retryable=True,
                )
                return failure, None
            wait = retry_after if retry_after is not None else self._retry.wait(attempt)
            failure = NotificationFailed(
                f"Slack rate-limited the webhook (HTTP 429: {answer})",
                status=status,
                attempts=attempt,
                retryable=True,
            )
            return failure, wait
        if status >= 500:
            failure = NotificationFailed(
                f"Slack answered HTTP {status} ({answer})",
                status=status,
                attempts=attempt,
                retryable=True,
            )
            return failure, self._retry.wait(attempt)
        failure = NotificationFailed(
            f"Slack refused the message: HTTP {status} ({answer}); a 404 or 410 means the "
            "webhook was removed, a 403 that posting to its channel is not allowed",
            status=status,
            attempts=attempt,
        )
        return failure, None

    def _client(self) -> AsyncWebhookClient:
        """The webhook client on this notifier's connection pool (opened on first use)."""
        if self._webhook is None or self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
            self._webhook = AsyncWebhookClient(
                self._url, session=self._session, logger=_SILENT, retry_handlers=[]
            )
        return self._webhook

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    async def close(self) -> None:
        session, self._session, self._webhook = self._session, None, None
        if session is not None and not session.closed:
            await session.close()


def retry_after_seconds(
    headers: Mapping[str, Any], now: Callable[[], float] = time.time
) -> float | None:
    """`Retry-After` as seconds from now: a number of seconds (what Slack sends) or an
    HTTP date; None when absent or unreadable."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if isinstance(value, list | tuple):  # slack_sdk may hand headers as lists of values
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now())
