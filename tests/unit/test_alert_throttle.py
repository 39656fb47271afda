"""Window throttling of incident alerts, delivered by the real Slack notifier to a local
receiver. Time is a `FakeClock` moved by the test (`flush_due` closes the windows it
passed), except in the one real-time test, which polls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from inferline.adapters.notify.disabled import NoNotifier
from inferline.adapters.notify.slack import SlackWebhookNotifier
from inferline.application.alerts import AlertThrottle, Decision
from inferline.application.resilience import Retry
from inferline.apps.logs.alert_metrics import AlertMetrics
from inferline.apps.logs.alert_settings import AlertSettings
from inferline.apps.logs.alerts import IncidentAlert, IncidentMessages, build_incident_alerts
from inferline.ports.notifications import Notifier
from inferline.testing.clock import FakeClock
from inferline.testing.polling import poll_until_async
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

SEEN = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def incident(incident_id: str = "inc-1", service: str = "checkout") -> IncidentAlert:
    return IncidentAlert(
        incident_id=incident_id,
        service=service,
        level="ERROR",
        template="payment <*> failed: card declined",
        sample="payment 8812 failed: card declined",
        count=1,
        first_seen=SEEN,
        last_seen=SEEN,
    )


async def no_wait(seconds: float) -> None:
    """The notifier's backoff, not waited out in these tests."""


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as started:
        yield started


@pytest.fixture
def slack(receiver: WebhookReceiver) -> Notifier:
    return SlackWebhookNotifier(receiver.url, retry=Retry(attempts=3), sleep=no_wait)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def throttle(
    slack: Notifier, clock: FakeClock, registry: CollectorRegistry
) -> AsyncIterator[AlertThrottle[IncidentAlert]]:
    alerts = AlertThrottle(
        slack,
        IncidentMessages(),
        window_seconds=60,
        clock=clock,
        counters=AlertMetrics(registry),
    )
    yield alerts
    await alerts.stop()


def counted(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(f"inferline_notifications_{name}_total", labels) or 0.0


async def test_the_first_occurrence_is_posted_at_once(
    throttle: AlertThrottle[IncidentAlert], receiver: WebhookReceiver
) -> None:
    assert throttle.observe("inc-1", incident()) is Decision.POSTED
    await throttle.drain()

    assert receiver.texts == ["ERROR in checkout: payment &lt;*&gt; failed: card declined"]


async def test_a_burst_of_500_is_one_message_and_one_follow_up_with_the_count(
    throttle: AlertThrottle[IncidentAlert],
    receiver: WebhookReceiver,
    clock: FakeClock,
    registry: CollectorRegistry,
) -> None:
    decisions = [throttle.observe("inc-1", incident()) for _ in range(500)]
    await throttle.drain()
    clock.advance(59)
    throttle.flush_due()
    await throttle.drain()

    assert decisions.count(Decision.POSTED) == 1
    assert decisions.count(Decision.COUNTED) == 499
    assert len(receiver.delivered) == 1  # the window is still open

    clock.advance(1)
    assert throttle.flush_due() == 1
    await throttle.drain()

    first, follow_up = receiver.texts
    assert first.startswith("ERROR in checkout: ")
    assert follow_up.startswith("+499 more occurrences of ERROR in checkout in the last 60 s")
    assert "(last seen 22:13:20 UTC)" in follow_up  # the last occurrence, on the test's clock
    assert counted(registry, "sent", kind="first") == 1
    assert counted(registry, "sent", kind="follow_up") == 1
    assert counted(registry, "suppressed") == 499
    assert throttle.stats().open_windows == 0


async def test_a_single_occurrence_gets_no_follow_up(
    throttle: AlertThrottle[IncidentAlert], receiver: WebhookReceiver, clock: FakeClock
) -> None:
    throttle.observe("inc-1", incident())
    clock.advance(60)
    assert throttle.flush_due() == 1
    await throttle.drain()

    assert len(receiver.delivered) == 1


async def test_separate_keys_have_separate_messages_and_windows(
    throttle: AlertThrottle[IncidentAlert], receiver: WebhookReceiver, clock: FakeClock
) -> None:
    for _ in range(3):
        throttle.observe("inc-1", incident("inc-1", "checkout"))
        throttle.observe("inc-2", incident("inc-2", "search"))
    clock.advance(60)
    throttle.flush_due()
    await throttle.drain()

    texts = receiver.texts
    assert len(texts) == 4
    assert sum(t.startswith("+2 more occurrences of ERROR in checkout") for t in texts) == 1
    assert sum(t.startswith("+2 more occurrences of ERROR in search") for t in texts) == 1


async def test_after_the_window_the_next_occurrence_is_posted_at_once_again(
    throttle: AlertThrottle[IncidentAlert], receiver: WebhookReceiver, clock: FakeClock
) -> None:
    throttle.observe("inc-1", incident())
    throttle.observe("inc-1", incident())
    clock.advance(61)  # the window closed, but nothing flushed it yet
    assert throttle.observe("inc-1", incident()) is Decision.POSTED
    await throttle.drain()

    first, follow_up, again = receiver.texts
    assert first == again
    assert follow_up.startswith("+1 more occurrence of ")  # before the new window's message


async def test_several_occurrences_at_once_count_toward_the_follow_up(
    throttle: AlertThrottle[IncidentAlert], receiver: WebhookReceiver, clock: FakeClock
) -> None:
    throttle.observe("inc-1", incident(), occurrences=40)
    clock.advance(60)
    throttle.flush_due()
    await throttle.drain()

    assert receiver.texts[1].startswith("+39 more occurrences")


async def test_a_failure_to_post_is_logged_without_the_url_and_counted_not_raised(
    throttle: AlertThrottle[IncidentAlert],
    receiver: WebhookReceiver,
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.fail(404, "no_service")

    assert throttle.observe("inc-1", incident()) is Decision.POSTED
    await throttle.drain()

    assert receiver.delivered == []
    assert throttle.stats().failed == 1
    assert counted(registry, "failed", kind="first", reason="rejected") == 1
    assert "alert inc-1 (first) not posted: Slack refused the message: HTTP 404" in caplog.text
    assert receiver.url not in caplog.text
    assert receiver.path not in caplog.text


async def test_retries_run_out_in_the_background(
    throttle: AlertThrottle[IncidentAlert], receiver: WebhookReceiver, registry: CollectorRegistry
) -> None:
    receiver.fail(500, times=3)

    throttle.observe("inc-1", incident())
    await throttle.drain()

    assert len(receiver.received) == 3
    assert counted(registry, "failed", kind="first", reason="gave_up") == 1


async def test_stop_flushes_pending_follow_ups(
    throttle: AlertThrottle[IncidentAlert], receiver: WebhookReceiver, clock: FakeClock
) -> None:
    await throttle.start()
    for _ in range(10):
        throttle.observe("inc-1", incident())
    clock.advance(12)

    await throttle.stop()

    first, follow_up = receiver.texts
    assert first.startswith("ERROR in checkout: ")
    assert follow_up.startswith("+9 more occurrences of ERROR in checkout in the last 12 s")


async def test_stop_gives_up_on_a_destination_that_does_not_answer_in_time(
    receiver: WebhookReceiver, clock: FakeClock, registry: CollectorRegistry
) -> None:
    never = asyncio.Event()

    async def stuck(seconds: float) -> None:  # a backoff that never ends
        await never.wait()

    slow = SlackWebhookNotifier(receiver.url, sleep=stuck)
    throttle = AlertThrottle(
        slow,
        IncidentMessages(),
        clock=clock,
        counters=AlertMetrics(registry),
        stop_timeout_seconds=0.1,
    )
    receiver.fail(500)
    await throttle.start()
    throttle.observe("inc-1", incident())
    throttle.observe("inc-2", incident("inc-2"))

    await throttle.stop()

    assert len(receiver.received) == 1  # the first try; then it waited until stopped
    assert counted(registry, "failed", kind="first", reason="shutdown") == 2
    assert throttle.stats().queued == 0


async def test_windows_close_in_real_time(receiver: WebhookReceiver, slack: Notifier) -> None:
    # long enough that a loaded machine cannot split the burst over two windows
    throttle = AlertThrottle(slack, IncidentMessages(), window_seconds=1.0)
    await throttle.start()
    try:
        for _ in range(500):
            throttle.observe("inc-1", incident())
        texts = await poll_until_async(
            lambda: receiver.texts,
            "the first message and its follow-up",
            timeout=10,
            accept=lambda t: len(t) == 2,
        )
    finally:
        await throttle.stop()

    assert texts[1].startswith("+499 more occurrences")
    assert len(receiver.delivered) == 2  # stop found nothing more to send


async def test_open_windows_are_bounded_and_the_oldest_closes_early(
    slack: Notifier, receiver: WebhookReceiver, clock: FakeClock
) -> None:
    throttle = AlertThrottle(slack, IncidentMessages(), clock=clock, max_keys=2)
    try:
        throttle.observe("inc-a", incident("inc-a", "a"), occurrences=3)
        throttle.observe("inc-b", incident("inc-b", "b"))
        throttle.observe("inc-c", incident("inc-c", "c"))
        assert throttle.stats().open_windows == 2
        await throttle.drain()
    finally:
        await throttle.stop()

    assert any(t.startswith("+2 more occurrences of ERROR in a") for t in receiver.texts)


async def test_a_full_queue_drops_new_messages_and_the_key_tries_again(
    slack: Notifier, receiver: WebhookReceiver, clock: FakeClock, registry: CollectorRegistry
) -> None:
    throttle = AlertThrottle(
        slack, IncidentMessages(), clock=clock, max_queued=2, counters=AlertMetrics(registry)
    )
    try:
        throttle.observe("inc-a", incident("inc-a"))
        throttle.observe("inc-b", incident("inc-b"))
        assert throttle.observe("inc-c", incident("inc-c")) is Decision.DROPPED
        assert counted(registry, "failed", kind="first", reason="queue_full") == 1
        await throttle.drain()
        assert throttle.observe("inc-c", incident("inc-c")) is Decision.POSTED
        await throttle.drain()
    finally:
        await throttle.stop()

    assert len(receiver.delivered) == 3


async def test_without_a_destination_alerts_are_off_and_the_log_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    throttle = AlertThrottle(
        NoNotifier("INFERLINE_SLACK_WEBHOOK_URL is not set"), IncidentMessages()
    )
    await throttle.start()
    try:
        assert throttle.observe("inc-1", incident()) is Decision.OFF
    finally:
        await throttle.stop()

    assert "alerts: notifications are off: INFERLINE_SLACK_WEBHOOK_URL is not set" in caplog.text
    stats = throttle.stats()
    assert not stats.enabled
    assert stats.open_windows == 0


async def test_the_app_builds_its_throttle_from_settings(
    slack: Notifier, receiver: WebhookReceiver, clock: FakeClock, registry: CollectorRegistry
) -> None:
    settings = AlertSettings(alert_window_seconds=5, alert_max_keys=7)
    throttle = build_incident_alerts(slack, settings, registry=registry, clock=clock)
    try:
        alert = incident()
        throttle.observe(alert.key, alert)
        throttle.observe(alert.key, alert)
        clock.advance(5)
        throttle.flush_due()
        await throttle.drain()
    finally:
        await throttle.stop()

    assert throttle.window_seconds == 5
    assert throttle.max_keys == 7
    assert receiver.texts[1].startswith("+1 more occurrence of ERROR in checkout in the last 5 s")
    assert counted(registry, "sent", kind="follow_up") == 1
