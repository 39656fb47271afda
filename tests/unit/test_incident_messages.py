"""What an incident alert says on Slack: text, Block Kit blocks, the follow-up's count."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from inferline.application.alerts import FollowUp
from inferline.apps.logs.alerts import IncidentAlert, IncidentMessages

SEEN = datetime(2026, 12, 3, 12, 0, 5, tzinfo=UTC)
ALERT = IncidentAlert(
    incident_id="inc-42",
    service="checkout",
    level="ERROR",
    template="payment <*> failed: card declined",
    sample="payment 8812 failed: card declined",
    count=3,
    first_seen=SEEN,
    last_seen=SEEN,
)


def texts(blocks: tuple[Any, ...]) -> str:
    """Every mrkdwn and plain text of the blocks, one per line."""
    found: list[str] = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        for part in block.get("fields", []) + block.get("elements", []):
            found.append(part["text"])
    return "\n".join(found)


def test_the_first_message_has_header_fields_template_sample_and_link() -> None:
    message = IncidentMessages().first(ALERT)

    assert message.text == "ERROR in checkout: payment &lt;*&gt; failed: card declined"
    kinds = [block["type"] for block in message.blocks]
    assert kinds == ["header", "section", "section", "section", "context"]
    header = message.blocks[0]["text"]
    assert header == {"type": "plain_text", "text": "ERROR in checkout", "emoji": False}
    shown = texts(message.blocks)
    assert "*Service*\ncheckout" in shown
    assert "*Level*\nERROR" in shown
    assert "*Occurrences*\n3" in shown
    assert "*First seen*\n2026-12-03 12:00:05 UTC" in shown
    assert "*Template*\n```payment &lt;*&gt; failed: card declined```" in shown
    assert "*Sample*\n```payment 8812 failed: card declined```" in shown
    assert "Incident `/api/v1/logs/incidents/inc-42`" in shown


def test_analysis_and_similar_incidents_are_shown_when_known() -> None:
    alert = replace(
        ALERT,
        analysis_summary="The card processor times out; see <runbook> & retry.",
        similar=["inc-7", "inc-9"],
    )

    shown = texts(IncidentMessages("https://inferline.example.com/").first(alert).blocks)

    assert "*Analysis*\nThe card processor times out; see &lt;runbook&gt; &amp; retry." in shown
    assert (
        "*Similar past incidents*: <https://inferline.example.com/api/v1/logs/incidents/inc-7"
        "|inc-7>, <https://inferline.example.com/api/v1/logs/incidents/inc-9|inc-9>"
    ) in shown
    assert "Incident <https://inferline.example.com/api/v1/logs/incidents/inc-42|inc-42>" in shown


def test_the_follow_up_says_how_many_more_and_when_the_last_was_seen() -> None:
    follow_up = FollowUp(more=499, opened=SEEN.timestamp(), last_seen=SEEN.timestamp(), seconds=60)

    message = IncidentMessages().follow_up(ALERT, follow_up)

    assert message.text == (
        "+499 more occurrences of ERROR in checkout in the last 60 s (last seen 12:00:05 UTC): "
        "payment &lt;*&gt; failed: card declined"
    )
    assert [block["type"] for block in message.blocks] == ["section", "context"]
    assert "*+499 more occurrences* of ERROR in *checkout*" in texts(message.blocks)


def test_one_more_is_singular() -> None:
    follow_up = FollowUp(more=1, opened=0.0, last_seen=0.0, seconds=60)

    assert IncidentMessages().follow_up(ALERT, follow_up).text.startswith("+1 more occurrence of")


def test_a_log_line_cannot_mention_the_channel_or_break_out_of_its_code_block() -> None:
    alert = replace(
        ALERT,
        sample="boom <!channel> ``` *bold* &",
    )

    shown = texts(IncidentMessages().first(alert).blocks)

    assert "<!channel>" not in shown
    assert "```boom &lt;!channel&gt; `\u200b`` *bold* &amp;```" in shown


def test_long_text_is_clipped_to_slack_limits_without_half_an_entity() -> None:
    alert = replace(
        ALERT,
        service="s" * 400,
        template="<" * 5000,
        sample="x" * 10_000,
    )

    message = IncidentMessages().first(alert)

    assert len(message.blocks[0]["text"]["text"]) == 150
    for block in message.blocks[1:]:
        if "text" in block:
            assert len(block["text"]["text"]) <= 3000
    template = message.blocks[2]["text"]["text"]
    assert template.endswith("&lt;…```")
