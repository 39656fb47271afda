"""Conversions between SQL rows and domain objects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from inferline.domain.jobs import Job, JobEvent, JobStatus, NewJob, job_view


def job_from_row(row: Row[Any]) -> Job:
    """A domain Job from a `jobs` row."""
    m = row._mapping
    return Job(
        id=m["id"],
        tenant=m["tenant"],
        model=m["model"],
        model_version=m["model_version"],
        status=JobStatus(m["status"]),
        input=m.get("input", {}),  # {} when selected without it: see SqlJobStore._fetch
        result=m["result"],
        error=m["error"],
        attempts=m["attempts"],
        max_attempts=m["max_attempts"],
        priority=m["priority"],
        idempotency_key=m["idempotency_key"],
        metadata=m["metadata"] or {},
        deadline=m["deadline"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        available_at=m["available_at"],
        lease_until=m["lease_until"],
        worker_id=m["worker_id"],
    )


def new_job_values(job: NewJob, now: float) -> dict[str, Any]:
    """Column values of a freshly queued job."""
    return {
        "id": job.id,
        "tenant": job.tenant,
        "model": job.model,
        "model_version": job.model_version,
        "status": JobStatus.QUEUED.value,
        "input": job.input,
        "result": None,
        "error": None,
        "attempts": 0,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "idempotency_key": job.idempotency_key,
        "metadata": job.metadata,
        "deadline": job.deadline,
        "created_at": now,
        "updated_at": now,
        "started_at": None,
        "finished_at": None,
        "available_at": now,
        "lease_until": None,
        "worker_id": None,
    }


def job_from_values(values: dict[str, Any]) -> Job:
    """The Job that `new_job_values` describes (no need to read back what we wrote)."""
    return Job(**{**values, "status": JobStatus(values["status"])})


def event_values(job: Job) -> dict[str, Any]:
    """An outbox row recording the job's current status (the snapshot omits the input)."""
    return {
        "job_id": job.id,
        "tenant": job.tenant,
        "model": job.model,
        "type": f"job.{job.status.value}",
        "status": job.status.value,
        "at": job.updated_at,
        "payload": job_view(job, include_input=False),
    }


def event_from_row(row: Row[Any]) -> JobEvent:
    """A domain JobEvent from a `job_events` row."""
    m = row._mapping
    return JobEvent(
        seq=m["seq"],
        job_id=m["job_id"],
        tenant=m["tenant"],
        model=m["model"],
        type=m["type"],
        status=JobStatus(m["status"]),
        at=m["at"],
        job=m["payload"],
    )
