"""The OCR app's own part of a process: its blob store and limits for the routes, and in
workers the sweep that removes the blobs of jobs the retention removed."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote

from inferline.core.documents import DocumentLimits
from inferline.core.tasks import cancel_and_wait
from inferline.domain.errors import NotFound
from inferline.domain.jobs import Job
from inferline.ports.blobs import BlobStore
from inferline.ports.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

ORPHAN_GRACE_SECONDS = 3600.0
"""A blob whose job does not exist this long after its id was made is an orphan (the
process died between storing the blob and committing the job)."""


class JobLookup(Protocol):
    async def get_job(self, tenant: str, job_id: str) -> Job: ...


@dataclass(frozen=True, slots=True)
class SweepConfig:
    """When blobs go: with their job's retention (`retention_seconds`; None keeps jobs
    and so their blobs), and orphans after `ORPHAN_GRACE_SECONDS`."""

    retention_seconds: float | None
    every_seconds: float = 600.0


def parse_key(key: str) -> tuple[str, str] | None:
    """(tenant, job id) of an OCR blob key, or None for any other key."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "ocr":
        return None
    try:
        uuid.UUID(parts[2])
    except ValueError:
        return None
    return unquote(parts[1]), parts[2]


def id_time(job_id: str) -> float:
    """When a UUIDv7 job id was made (UNIX seconds)."""
    return (uuid.UUID(job_id).int >> 80) / 1000


class OcrApp:
    """Blob store and limits for the routes; the blob sweep when `sweep` is set."""

    def __init__(
        self,
        blobs: BlobStore,
        limits: DocumentLimits,
        jobs: JobLookup,
        sweep: SweepConfig | None = None,
        *,
        connect: Callable[[], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.blobs = blobs
        self.limits = limits
        self.jobs = jobs
        self.sweep = sweep
        self.clock = clock
        self._connect = connect
        self._task: asyncio.Task[None] | None = None
        self.removed = 0

    async def start(self) -> None:
        if self._connect is not None:
            await asyncio.to_thread(self._connect)
        await asyncio.to_thread(self.blobs.check)
        if self.sweep is not None and self._task is None:
            self._task = asyncio.create_task(self._sweep_loop(), name="ocr-blob-sweep")

    async def check(self) -> None:
        """The blob store can be written (readiness names `ocr` when it cannot)."""
        await asyncio.to_thread(self.blobs.check)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _sweep_loop(self) -> None:
        assert self.sweep is not None
        while True:
            await asyncio.sleep(self.sweep.every_seconds)
            try:
                await self.sweep_once()
            except Exception:
                log.exception("OCR blob sweep failed")

    async def sweep_once(self) -> int:
        """Remove the blobs whose job is gone; how many were removed."""
        retention = self.sweep.retention_seconds if self.sweep else None
        every = self.sweep.every_seconds if self.sweep else 600.0
        now = self.clock.now()
        keys = await asyncio.to_thread(lambda: list(self.blobs.keys("ocr/")))
        removed = 0
        for key in keys:
            parsed = parse_key(key)
            if parsed is None:
                continue
            tenant, job_id = parsed
            age = now - id_time(job_id)
            if retention is not None:
                # a job is pruned `retention` after it finished, so never before its blob
                # is that old: younger blobs need no look-up
                if age < max(retention, ORPHAN_GRACE_SECONDS):
                    continue
            elif not ORPHAN_GRACE_SECONDS <= age < ORPHAN_GRACE_SECONDS + 3 * every:
                continue  # jobs are kept for ever: only orphans go, checked once or so
            try:
                await self.jobs.get_job(tenant, job_id)
                continue
            except NotFound:
                pass
            await asyncio.to_thread(self.blobs.delete, key)
            removed += 1
        if removed:
            log.info("removed %d OCR blobs whose job is gone", removed)
        self.removed += removed
        return removed
