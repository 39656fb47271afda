"""What happens when an incident opens, grows or is resolved: `IncidentResponder`, the
incident listener that joins the memory of past incidents, the root-cause analysis and
the Slack alerts.

- **opened**: the similar past incidents are looked up (a MiniLM embedding and a vector
  search: milliseconds), the alert is posted at once with them, and the root-cause
  analysis is queued. The analysis (an LLM call: seconds) runs on a worker task of its
  own, so the stream's consumer never waits for the LLM; its result (or why there is
  none, with the similar incidents either way) is stored on the incident.
- **grew**: the new occurrences count into the incident's alert window (one follow-up
  with the count when the window closes).
- **resolved**: the incident and its resolution go into the memory, where the next
  incident like it finds them.

A full analysis queue drops the newest request (counted in the log); the incident keeps
`analysis: null` and says so in the API. Nothing here raises into the consumer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from inferline.application.alerts import AlertThrottle
from inferline.apps.logs.alerts import IncidentAlert
from inferline.apps.logs.analysis import Analysis, RootCauseAnalyst
from inferline.apps.logs.memory import IncidentDigest, IncidentMemory, PastIncident
from inferline.core.tasks import cancel_and_wait
from inferline.ports.logs import Incident

log = logging.getLogger(__name__)

StoreAnalysis = Callable[[str, dict[str, Any]], Awaitable[object]]
MAX_DIGEST_SAMPLES = 5


def incident_digest(incident: Incident) -> IncidentDigest:
    """The memory's and the analysis' view of a stored incident."""
    samples = [str(s.get("message", "")) for s in incident.samples[:MAX_DIGEST_SAMPLES]]
    values = [[str(v) for v in p.get("values", [])] for p in incident.parameters]
    return IncidentDigest(
        id=incident.id,
        tenant=incident.tenant,
        service=incident.service,
        level=incident.level,
        template=incident.template,
        samples=samples,
        parameters=values,
        count=incident.count,
        first_seen=datetime.fromtimestamp(incident.first_seen, UTC),
        last_seen=datetime.fromtimestamp(incident.last_seen, UTC),
    )


def incident_alert(
    incident: Incident, similar: list[PastIncident], summary: str | None = None
) -> IncidentAlert:
    sample = str(incident.samples[0].get("message", "")) if incident.samples else ""
    return IncidentAlert(
        incident_id=incident.id,
        service=incident.service,
        level=incident.level,
        template=incident.template,
        sample=sample,
        count=incident.count,
        first_seen=datetime.fromtimestamp(incident.first_seen, UTC),
        last_seen=datetime.fromtimestamp(incident.last_seen, UTC),
        analysis_summary=summary,
        similar=[p.id for p in similar],
    )


class IncidentResponder:
    """The incident listener of the log analysis (see the module's docstring). `memory`,
    `analyst` and `alerts` may each be None (that part is off)."""

    def __init__(
        self,
        *,
        memory: IncidentMemory | None,
        analyst: RootCauseAnalyst | None,
        alerts: AlertThrottle[IncidentAlert] | None,
        store_analysis: StoreAnalysis,
        similar_k: int = 3,
        max_queued: int = 100,
        max_tracked: int = 10_000,
    ) -> None:
        self.memory = memory
        self.analyst = analyst
        self.alerts = alerts
        self.store_analysis = store_analysis
        self.similar_k = similar_k
        self._queue: asyncio.Queue[tuple[Incident, list[PastIncident]]] = asyncio.Queue(max_queued)
        self._counts: OrderedDict[str, int] = OrderedDict()  # incident id -> count alerted
        self._max_tracked = max_tracked
        self._worker: asyncio.Task[None] | None = None
        self.analyses_dropped = 0

    async def start(self) -> None:
        if self.memory is not None:
            await self.memory.start()
        if self.alerts is not None:
            await self.alerts.start()
        if self._worker is None:
            self._worker = asyncio.create_task(self._analyse_queued(), name="logs-analysis")

    async def stop(self) -> None:
        await cancel_and_wait(self._worker)
        self._worker = None
        if self.alerts is not None:
            await self.alerts.stop()

    async def idle(self) -> None:
        """Wait until every queued analysis is stored (tests, and a clean stop)."""
        await self._queue.join()

    # -- the listener ------------------------------------------------------------
    async def opened(self, incident: Incident) -> None:
        similar = await self._similar(incident)
        self._alert(incident, similar, incident.count)
        try:
            self._queue.put_nowait((incident, similar))
        except asyncio.QueueFull:
            self.analyses_dropped += 1
            log.warning("logs: analysis queue full; incident %s is not analysed", incident.id)

    async def grew(self, incident: Incident) -> None:
        seen = self._counts.get(incident.id, 0)
        if incident.count > seen:
            self._alert(incident, [], incident.count - seen)

    async def resolved(self, incident: Incident) -> None:
        if self.memory is not None and incident.resolution:
            await self.memory.remember(incident_digest(incident), incident.resolution)

    # -- the parts ---------------------------------------------------------------
    async def _similar(self, incident: Incident) -> list[PastIncident]:
        if self.memory is None:
            return []
        try:
            return await self.memory.similar(incident_digest(incident), self.similar_k)
        except Exception as exc:  # the alert and the analysis go on without them
            log.warning("logs: no similar incidents for %s: %s", incident.id, exc)
            return []

    def _alert(self, incident: Incident, similar: list[PastIncident], occurrences: int) -> None:
        self._counts[incident.id] = incident.count
        self._counts.move_to_end(incident.id)
        while len(self._counts) > self._max_tracked:
            self._counts.popitem(last=False)
        if self.alerts is not None and occurrences > 0:
            self.alerts.observe(incident.id, incident_alert(incident, similar), occurrences)

    async def _analyse_queued(self) -> None:
        while True:
            incident, similar = await self._queue.get()
            try:
                await self._analyse(incident, similar)
            except Exception:
                log.exception("logs: the analysis of incident %s failed", incident.id)
            finally:
                self._queue.task_done()

    async def _analyse(self, incident: Incident, similar: list[PastIncident]) -> None:
        if self.analyst is None:
            analysis = Analysis(
                incident_id=incident.id,
                root_cause=None,
                similar=similar,
                model=None,
                unavailable="no LLM is configured",
                seconds=0.0,
            )
        else:
            analysis = await self.analyst.analyse(incident_digest(incident), similar)
        await self.store_analysis(incident.id, analysis.view())
