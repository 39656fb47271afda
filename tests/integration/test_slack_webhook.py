"""The Slack webhook notifier through the real `slack_sdk` client against a local receiver.

Retries (429 honouring Retry-After, 5xx, refused connections) up to the bound, 4xx
failing at once, and the webhook URL (a secret) in no log line, error or repr. Backoff
waits are recorded instead of slept.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from inferline.adapters.notify.disabled import NoNotifier
from inferline.adapters.notify.slack import (
    SLACK_RETRY,
    SlackWebhookNotifier,
    retry_after_seconds,
)
from inferline.application.resilience import Retry
from inferline.apps.logs.alert_settings import AlertSettings
from inferline.bootstrap import build_notifier
from inferline.ports.notifications import Notification, NotificationFailed
from inferline.testing.server import free_port
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

HELLO = Notification(
    "ERROR in checkout",
    ({"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}},),
)


class Waits:
    """The notifier's `sleep`: records each backoff instead of waiting it out."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as started:
        yield started


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
async def slack(receiver: WebhookReceiver, waits: Waits) -> AsyncIterator[SlackWebhookNotifier]:
    notifier = SlackWebhookNotifier(receiver.url, timeout_seconds=5, sleep=waits)
    yield notifier
    await notifier.close()


async def test_a_message_reaches_the_webhook_with_its_text_and_blocks(
    slack: SlackWebhookNotifier, receiver: WebhookReceiver
) -> None:
    await slack.post(HELLO)

    [request] = receiver.received
    assert request.path == receiver.path
    assert request.body == {
        "text": "ERROR in checkout",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}],
    }
    assert "slackclient/" in request.headers["User-Agent"]  # slack_sdk's client sent it


async def test_a_message_without_blocks_sends_text_only(
    slack: SlackWebhookNotifier, receiver: WebhookReceiver
) -> None:
    await slack.post(Notification("plain"))

    assert [r.body for r in receiver.received] == [{"text": "plain"}]


async def test_429_waits_what_retry_after_says_then_delivers(
    slack: SlackWebhookNotifier, receiver: WebhookReceiver, waits: Waits
) -> None:
    receiver.rate_limit(retry_after=2, times=2)

    await slack.post(HELLO)

    assert [r.status for r in receiver.received] == [429, 429, 200]
    assert waits.seconds == [2.0, 2.0]
    assert len(receiver.delivered) == 1


async def test_5xx_backs_off_exponentially_with_jitter_then_delivers(
    slack: SlackWebhookNotifier, receiver: WebhookReceiver, waits: Waits
) -> None:
    receiver.fail(500).fail(503).fail(502)

    await slack.post(HELLO)

    assert [r.status for r in receiver.received] == [500, 503, 502, 200]
    first, second, third = waits.seconds
    assert 0.5 <= first <= 1.0  # 1 s, up to half taken off at random
    assert 1.0 <= second <= 2.0
    assert 2.0 <= third <= 4.0


async def test_gives_up_after_the_bound_of_tries(receiver: WebhookReceiver, waits: Waits) -> None:
    receiver.fail(500, times=10)
    notifier = SlackWebhookNotifier(
        receiver.url, retry=Retry(attempts=3, min_seconds=1, max_seconds=30), sleep=waits
    )
    try:
        with pytest.raises(NotificationFailed) as failed:
            await notifier.post(HELLO)
    finally:
        await notifier.close()

    assert len(receiver.received) == 3
    assert waits.seconds == [1.0, 2.0]  # no jitter in this policy; no wait after the last
    assert failed.value.retryable
    assert failed.value.status == 500
    assert failed.value.attempts == 3
    assert "gave up after 3 tries" in str(failed.value)


async def test_404_fails_at_once_with_a_clear_error(
    slack: SlackWebhookNotifier, receiver: WebhookReceiver, waits: Waits
) -> None:
    receiver.fail(404, "no_service")

    with pytest.raises(NotificationFailed) as failed:
        await slack.post(HELLO)

    assert len(receiver.received) == 1
    assert waits.seconds == []
    assert not failed.value.retryable
    assert failed.value.status == 404
    assert "HTTP 404 (no_service)" in str(failed.value)
    assert "webhook was removed" in str(failed.value)


async def test_400_is_not_retried_either(
    slack: SlackWebhookNotifier, receiver: WebhookReceiver
) -> None:
    receiver.fail(400, "invalid_payload", times=3)

    with pytest.raises(NotificationFailed, match="HTTP 400"):
        await slack.post(HELLO)

    assert len(receiver.received) == 1


async def test_a_retry_after_beyond_the_bound_fails_at_once(
    receiver: WebhookReceiver, waits: Waits
) -> None:
    receiver.rate_limit(retry_after=120)
    notifier = SlackWebhookNotifier(receiver.url, max_retry_after_seconds=30, sleep=waits)
    try:
        with pytest.raises(NotificationFailed, match="rate-limits the webhook for 120 s"):
            await notifier.post(HELLO)
    finally:
        await notifier.close()

    assert len(receiver.received) == 1
    assert waits.seconds == []


async def test_a_refused_connection_is_retried_then_reported(waits: Waits) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/refusedtoken"
    notifier = SlackWebhookNotifier(url, retry=Retry(attempts=2, min_seconds=1), sleep=waits)
    try:
        with pytest.raises(NotificationFailed) as failed:
            await notifier.post(HELLO)
    finally:
        await notifier.close()

    assert failed.value.retryable
    assert failed.value.status is None
    assert "unreachable" in str(failed.value)
    assert "refusedtoken" not in str(failed.value)
    assert waits.seconds == [1.0]


async def test_the_webhook_url_is_never_logged_nor_in_errors_or_reprs(
    receiver: WebhookReceiver, waits: Waits, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # ours, slack_sdk's and aiohttp's: everything
    for name in ("slack_sdk", "aiohttp", "inferline"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    token = receiver.path.rsplit("/", 1)[1]
    notifier = SlackWebhookNotifier(receiver.url, retry=Retry(attempts=3), sleep=waits)
    shown: list[str] = [repr(notifier), notifier.describe()]
    try:
        receiver.rate_limit(retry_after=0).fail(500)  # two retried tries, then delivered
        await notifier.post(HELLO)
        receiver.fail(503, times=3)  # tries run out
        with pytest.raises(NotificationFailed) as gave_up:
            await notifier.post(HELLO)
        receiver.fail(404, f"no_service for {receiver.url}")  # even an answer that echoes it
        with pytest.raises(NotificationFailed) as refused:
            await notifier.post(HELLO)
    finally:
        await notifier.close()
    for failure in (gave_up.value, refused.value):
        shown += [str(failure), repr(failure), "".join(traceback.format_exception(failure))]

    assert len(receiver.delivered) == 1
    assert caplog.records  # the retries were logged
    assert "again in" in caplog.text
    for text in (caplog.text, *shown):
        assert receiver.url not in text
        assert token not in text


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": ["1.5"]}) == 1.5
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    date = "Wed, 21 Oct 2015 07:28:30 GMT"
    assert retry_after_seconds({"Retry-After": date}, now=lambda: 1445412500.0) == 10.0


def test_a_url_that_is_not_http_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="https://") as bad:
        SlackWebhookNotifier("hooks.example.com/services/secret-part")
    assert "secret-part" not in str(bad.value)


def test_the_default_policy_is_bounded() -> None:
    assert SLACK_RETRY.attempts == 5
    assert SLACK_RETRY.max_seconds == 30.0


# Settings and the composition root's choice


def test_without_a_webhook_notifications_are_off_and_say_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INFERLINE_SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("INFERLINE_SLACK_WEBHOOK_URL_FILE", raising=False)

    notifier = build_notifier(AlertSettings())

    assert isinstance(notifier, NoNotifier)
    assert not notifier.enabled
    assert notifier.name == "none"
    assert "INFERLINE_SLACK_WEBHOOK_URL is not set" in notifier.describe()


async def test_the_webhook_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, receiver: WebhookReceiver
) -> None:
    monkeypatch.setenv("INFERLINE_SLACK_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("INFERLINE_SLACK_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("INFERLINE_ALERT_WINDOW_SECONDS", "15")

    settings = AlertSettings()
    notifier = build_notifier(settings)
    try:
        await notifier.post(HELLO)
    finally:
        await notifier.close()

    assert settings.alert_window_seconds == 15.0
    assert notifier.name == "slack"
    assert len(receiver.delivered) == 1
    assert receiver.url not in repr(settings)


def test_the_webhook_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "webhook"
    secret.write_text("https://hooks.example.com/services/T1/B1/fromfile\n", encoding="utf-8")
    monkeypatch.delenv("INFERLINE_SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("INFERLINE_SLACK_WEBHOOK_URL_FILE", str(secret))

    settings = AlertSettings()

    assert settings.slack_webhook_url is not None
    assert settings.slack_webhook_url.get_secret_value().endswith("/fromfile")


def test_the_variable_and_its_file_together_are_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "webhook"
    secret.write_text("https://hooks.example.com/services/T1/B1/fromfile", encoding="utf-8")
    monkeypatch.setenv("INFERLINE_SLACK_WEBHOOK_URL", "https://hooks.example.com/x")
    monkeypatch.setenv("INFERLINE_SLACK_WEBHOOK_URL_FILE", str(secret))

    with pytest.raises(ValueError, match="not both"):
        AlertSettings()


def test_a_bad_webhook_setting_is_named_but_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERLINE_SLACK_WEBHOOK_URL", "ftp://hooks.example.com/services/sekrit")

    with pytest.raises(ValidationError) as bad:
        AlertSettings()

    assert "slack_webhook_url" in str(bad.value)
    assert "https://" in str(bad.value)
    assert "sekrit" not in str(bad.value)


def test_an_empty_webhook_setting_means_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERLINE_SLACK_WEBHOOK_URL", "  ")

    assert AlertSettings().slack_webhook_url is None
