"""Job events as the event-bus tests publish them."""

from __future__ import annotations

from inferline.domain.jobs import JobEvent, JobStatus


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
