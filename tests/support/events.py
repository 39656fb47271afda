"""Job events as the event-bus tests publish them, and as a client reads them."""

from __future__ import annotations

import json
from typing import Any

from websockets.sync.client import ClientConnection

from inferline.domain.jobs import JobEvent, JobStatus
from inferline.testing.polling import poll_until


def job_event(seq: int, job_id: str = "j1") -> JobEvent:
    """A finished job's event, with a non-ASCII character and a float to round-trip."""
    return JobEvent(
        seq=seq,
        job_id=job_id,
        tenant="t",
        model="m",
        type="job.succeeded",
        status=JobStatus.SUCCEEDED,
        at=1_700_000_000.123456,
        job={"id": job_id, "result": {"forecast": 1.5, "text": "é"}},
    )


def job_events_until_succeeded(events: ClientConnection, job_id: str) -> list[str]:
    """Read the `/events` WebSocket until job `job_id` succeeds; the types it saw for that
    job, in order (other jobs' events are skipped)."""
    seen: list[str] = []

    def next_event_of_the_job() -> str | None:
        message: dict[str, Any] = json.loads(events.recv(timeout=1))
        if message["job"]["id"] != job_id:
            return None
        seen.append(message["type"])
        return seen[-1]

    poll_until(
        next_event_of_the_job,
        f"job.succeeded for {job_id} on the event feed",
        timeout=20,
        accept=lambda event: event == "job.succeeded",
        interval=0,
    )
    return seen
