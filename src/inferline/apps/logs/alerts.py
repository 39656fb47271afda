"""Incident alerts on Slack: what a message says, and the throttle that sends them.

`IncidentAlert` is what the log pipeline hands over for each occurrence of an incident;
`IncidentMessages` turns it into Slack text and Block Kit blocks (header, service and
level, the template in a code block, a sample line, the analysis when there is one,
similar past incidents, and the incident's link); `build_incident_alerts` wires the
throttle (`application/alerts.py`) with these messages and the Prometheus counters.

Slack's limits are kept: a header of at most 150 characters, sections of at most 3,000;
`&`, `<` and `>` are escaped as its mrkdwn requires, so a log line cannot ping a channel
or forge a link.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from inferline.application.alerts import AlertThrottle, FollowUp
from inferline.apps.logs.alert_metrics import AlertMetrics
from inferline.apps.logs.alert_settings import AlertSettings
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.notifications import Notification, Notifier

HEADER_CHARS = 150
TEMPLATE_CHARS = 1_000
SAMPLE_CHARS = 1_500
SUMMARY_CHARS = 2_000
SIMILAR_SHOWN = 5
INCIDENT_PATH = "/api/v1/logs/incidents/{id}"
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


@dataclass(frozen=True, slots=True)
class IncidentAlert:
    """One occurrence of an incident, as the alert shows it. `count`: occurrences of the
    incident so far; `sample`: one raw log line of it; `similar`: ids of past incidents
    that looked alike (most alike first)."""

    incident_id: str
    service: str
    level: str
    template: str
    sample: str
    count: int
    first_seen: datetime
    last_seen: datetime
    analysis_summary: str | None = None
    similar: Sequence[str] = ()

    @property
    def key(self) -> str:
        """What the throttle's windows are kept by: the incident."""
        return self.incident_id


class IncidentMessages:
    """`AlertMessages` for incidents. `link_base`: the address Inferline is reached at, to
    make the incident's path a link (None: the path is shown as text)."""

    def __init__(self, link_base: str | None = None) -> None:
        self.link_base = link_base.rstrip("/") if link_base else None

    def first(self, alert: IncidentAlert) -> Notification:
        text = f"{alert.level} in {alert.service}: {_clip(alert.template, 200)}"
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": _clip(f"{alert.level} in {alert.service}", HEADER_CHARS),
                    "emoji": False,
                },
            },
            {
                "type": "section",
                "fields": [
                    _field("Service", alert.service),
                    _field("Level", alert.level),
                    _field("Occurrences", str(alert.count)),
                    _field("First seen", _when(alert.first_seen)),
                ],
            },
            _section(f"*Template*\n{_code(alert.template, TEMPLATE_CHARS)}"),
            _section(f"*Sample*\n{_code(alert.sample, SAMPLE_CHARS)}"),
        ]
        if alert.analysis_summary:
            summary = _escaped(alert.analysis_summary, SUMMARY_CHARS)
            blocks.append(_section(f"*Analysis*\n{summary}"))
        if alert.similar:
            shown = ", ".join(self._link(i) for i in alert.similar[:SIMILAR_SHOWN])
            blocks.append(_section(f"*Similar past incidents*: {shown}"))
        blocks.append(self._context(alert.incident_id))
        return Notification(_escape(text), tuple(blocks))

    def follow_up(self, alert: IncidentAlert, follow_up: FollowUp) -> Notification:
        noun = "occurrence" if follow_up.more == 1 else "occurrences"
        last = datetime.fromtimestamp(follow_up.last_seen, UTC).strftime("%H:%M:%S UTC")
        line = (
            f"+{follow_up.more} more {noun} of {alert.level} in {alert.service} in the last "
            f"{follow_up.seconds:.0f} s (last seen {last}): {_clip(alert.template, 200)}"
        )
        blocks = (
            _section(
                f"*+{follow_up.more} more {noun}* of {_escaped(alert.level, 50)} in "
                f"*{_escaped(alert.service, 300)}* in the last {follow_up.seconds:.0f} s "
                f"(last seen {last})\n{_code(alert.template, TEMPLATE_CHARS)}"
            ),
            self._context(alert.incident_id),
        )
        return Notification(_escape(line), blocks)

    def _context(self, incident_id: str) -> dict[str, Any]:
        return {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Incident {self._link(incident_id)}"}],
        }

    def _link(self, incident_id: str) -> str:
        path = INCIDENT_PATH.format(id=incident_id)
        if self.link_base is None:
            return f"`{_escape(path)}`"
        return f"<{_escape(self.link_base + path)}|{_escape(incident_id)}>"


def build_incident_alerts(
    notifier: Notifier,
    settings: AlertSettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> AlertThrottle[IncidentAlert]:
    """The throttle of incident alerts for one process: `notifier` (Slack, or none) and
    its counters on `registry`. Call `observe(alert.key, alert)` per occurrence; `start`
    and `stop` it with the app."""
    config = settings or AlertSettings()
    return AlertThrottle(
        notifier,
        IncidentMessages(config.alert_link_base_url),
        window_seconds=config.alert_window_seconds,
        clock=clock,
        counters=AlertMetrics(registry),
        max_keys=config.alert_max_keys,
        max_queued=config.alert_max_queued,
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped(text: str, limit: int) -> str:
    """`text` escaped for mrkdwn, in at most `limit` characters (never half an entity)."""
    escaped = _escape(text)
    if len(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: limit - 1]) + "…"


def _code(text: str, limit: int) -> str:
    """A code block; a fence inside the text is broken so that it cannot end the block."""
    return "```" + _escaped(text, limit).replace("```", "`\u200b``") + "```"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(name: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{name}*\n{_escaped(value, 500)}"}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _when(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
