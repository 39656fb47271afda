"""Incident grouping by (tenant, service, template) in time windows of the lines' own
timestamps: joins within the window of the last line, a quiet gap opens a new incident,
samples and parameter values are bounded, services and tenants apart, resolved incidents
do not grow, and listeners' failures stay theirs."""

from __future__ import annotations

from dataclasses import replace

from inferline.apps.logs.incidents import (
    ErrorLine,
    GroupingConfig,
    IncidentGrouper,
    Listeners,
)
from inferline.apps.logs.records import Level
from inferline.ports.logs import Incident

T0 = 1_764_000_000.0


def line(
    at: float,
    *,
    service: str = "api",
    tenant: str = "acme",
    template_id: int = 1,
    level: Level = Level.ERROR,
    value: str = "1",
    origin: str | None = None,
) -> ErrorLine:
    return ErrorLine(
        tenant=tenant,
        service=service,
        template_id=template_id,
        template="db timeout after <DURATION>",
        level=level,
        at=at,
        message=f"db timeout after {value}s",
        trace_id=None,
        parameters=(("DURATION", f"{value}s"),),
        origin=origin or f"logs.raw/0/{at}",
    )


def stored(
    grouper: IncidentGrouper, lines: list[ErrorLine]
) -> tuple[list[Incident], list[Incident]]:
    """Group a batch and remember it, as the processor does once the batch is stored."""
    grouped = grouper.group(lines)
    grouper.remember([*grouped.opened, *grouped.grown])
    return grouped.opened, grouped.grown


def test_errors_within_the_window_of_the_last_one_make_one_incident() -> None:
    grouper = IncidentGrouper(GroupingConfig(window_seconds=300))
    # each 200 s after the previous: 800 s in all, but never a 300 s gap
    opened, grown = stored(grouper, [line(T0 + 200 * i) for i in range(5)])
    assert grown == []
    [incident] = opened
    assert (incident.count, incident.first_seen, incident.last_seen) == (5, T0, T0 + 800)
    assert incident.status == "open" and incident.level == "ERROR"


def test_a_quiet_window_then_an_error_opens_a_new_incident() -> None:
    grouper = IncidentGrouper(GroupingConfig(window_seconds=300))
    [first], _ = stored(grouper, [line(T0), line(T0 + 10)])
    opened, grown = stored(grouper, [line(T0 + 10 + 301)])
    assert grown == [] and len(opened) == 1
    assert opened[0].id != first.id and opened[0].count == 1


def test_a_later_batch_grows_the_open_incident() -> None:
    grouper = IncidentGrouper()
    [first], _ = stored(grouper, [line(T0)])
    opened, [grown] = stored(grouper, [line(T0 + 60, level=Level.FATAL)])
    assert opened == []
    assert (grown.id, grown.count, grown.level) == (first.id, 2, "FATAL")


def test_samples_and_parameter_values_are_bounded() -> None:
    grouper = IncidentGrouper(GroupingConfig(max_samples=3, max_parameter_values=4))
    [incident], _ = stored(grouper, [line(T0 + i, value=str(i % 6)) for i in range(20)])
    assert incident.count == 20
    assert [s["message"] for s in incident.samples] == [
        "db timeout after 0s",
        "db timeout after 1s",
        "db timeout after 2s",
    ]
    assert incident.parameters == [{"mask": "DURATION", "values": ["0s", "1s", "2s", "3s"]}]


def test_services_templates_and_tenants_are_grouped_apart() -> None:
    grouper = IncidentGrouper()
    opened, _ = stored(
        grouper,
        [
            line(T0),
            line(T0 + 1, service="billing"),
            line(T0 + 2, template_id=2),
            line(T0 + 3, tenant="globex"),
            line(T0 + 4),
        ],
    )
    assert sorted((i.tenant, i.service, i.template_id, i.count) for i in opened) == [
        ("acme", "api", 1, 2),
        ("acme", "api", 2, 1),
        ("acme", "billing", 1, 1),
        ("globex", "api", 1, 1),
    ]


def test_grouping_follows_the_lines_timestamps_not_their_order_in_the_batch() -> None:
    grouper = IncidentGrouper(GroupingConfig(window_seconds=300))
    opened, _ = stored(grouper, [line(T0 + 1000), line(T0), line(T0 + 100)])
    assert sorted((i.first_seen, i.count) for i in opened) == [(T0, 2), (T0 + 1000, 1)]


def test_the_same_lines_give_the_same_incident_ids() -> None:
    batch = [line(T0), line(T0 + 500), line(T0 + 510)]
    once = IncidentGrouper().group(batch).opened
    again = IncidentGrouper().group(batch).opened
    assert [i.id for i in once] == [i.id for i in again] and len(once) == 2


def test_a_resolved_incident_does_not_grow() -> None:
    grouper = IncidentGrouper()
    [incident], _ = stored(grouper, [line(T0)])
    grouper.remember([replace(incident, status="resolved", resolution="restarted")])
    opened, grown = stored(grouper, [line(T0 + 5)])
    assert grown == [] and len(opened) == 1 and opened[0].id != incident.id


def test_grouping_does_not_change_what_is_remembered_until_it_is_stored() -> None:
    grouper = IncidentGrouper()
    first = grouper.group([line(T0)])
    again = grouper.group([line(T0 + 1)])
    assert len(first.opened) == len(again.opened) == 1  # nothing remembered: opened again
    assert again.grown == []


class Recording:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, str]] = []

    async def opened(self, incident: Incident) -> None:
        self.calls.append(("opened", incident.id))
        if self.fail:
            raise RuntimeError("listener down")

    async def grew(self, incident: Incident) -> None:
        self.calls.append(("grew", incident.id))

    async def resolved(self, incident: Incident) -> None:
        self.calls.append(("resolved", incident.id))


async def test_a_failing_listener_does_not_stop_the_others() -> None:
    failing, working = Recording(fail=True), Recording()
    listeners = Listeners([failing, working])
    [incident] = IncidentGrouper().group([line(T0)]).opened
    await listeners.opened(incident)
    await listeners.resolved(incident)
    assert working.calls == [("opened", incident.id), ("resolved", incident.id)]
    assert failing.calls == [("opened", incident.id), ("resolved", incident.id)]
