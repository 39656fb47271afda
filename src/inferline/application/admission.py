"""Queue admission: at most `max_queued_jobs` waiting jobs per model, database-wide.

Most submits are decided from `QueueDepths`, the per-model counts the monitor reads
once a second plus the jobs this process created since: while a model's queue is
far below its limit (more than `headroom` places left after this write), the store
inserts without counting, as fast as before. Closer to the limit the store counts
the waiting jobs inside the write transaction, taking turns with every other
admission of that model (SQLite's single writer, a locked row elsewhere), and
refuses, one by one, the new jobs that do not fit. So the limit is exact as long as
the whole deployment admits fewer than `headroom` jobs of one model between two
refreshes, and `headroom` is at least 10,000 (a tenth of large limits).

A queue seen full at the last refresh refuses new jobs without a database round
trip, except jobs with an idempotency key: the store must say whether the key exists,
and a resubmit of an existing job is never refused.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

from inferline.domain.errors import Overloaded
from inferline.domain.jobs import Job, NewJob, QueueFull

MIN_HEADROOM = 10_000
MAX_DEPTH_AGE_SECONDS = 5.0  # older counts (the monitor is failing): always count exactly
RETRY_AFTER_SECONDS = 5.0


class QueueDepths:
    """The latest per-model count of waiting jobs, refreshed by the monitor."""

    def __init__(self) -> None:
        self.waiting: dict[str, int] = {}
        self.running: dict[str, int] = {}
        self.refreshed_at: float | None = None  # time.monotonic() of the last update

    def update(self, counts: dict[str, dict[str, int]]) -> None:
        self.waiting = {m: c.get("queued", 0) + c.get("failed", 0) for m, c in counts.items()}
        self.running = {m: c.get("running", 0) for m, c in counts.items()}
        self.refreshed_at = time.monotonic()

    def add_waiting(self, jobs: Iterable[Job]) -> None:
        """Count jobs this process created, until the next refresh counts them."""
        for model, created in Counter(job.model for job in jobs).items():
            self.waiting[model] = self.waiting.get(model, 0) + created


class Admission:
    """Applies the per-model queue limit to new jobs (see the module's docstring)."""

    def __init__(self, depths: QueueDepths, max_waiting: int) -> None:
        self.depths = depths
        self.max_waiting = max_waiting
        self.headroom = max(MIN_HEADROOM, max_waiting // 10)

    def refuse_if_seen_full(self, jobs: list[NewJob]) -> None:
        """Overloaded when a model's queue was full at the last count (keyed jobs excepted)."""
        if any(job.idempotency_key is not None for job in jobs):
            return
        for model in {job.model for job in jobs}:
            waiting = self.depths.waiting.get(model, 0)
            if waiting >= self.max_waiting:
                raise Overloaded(
                    f"model {model} has {waiting} jobs waiting; try again later",
                    retry_after=RETRY_AFTER_SECONDS,
                )

    def exact_limit(self, jobs: list[NewJob]) -> int | None:
        """The limit the store must count for this write, or None when it is far below."""
        refreshed_at = self.depths.refreshed_at
        if refreshed_at is None or time.monotonic() - refreshed_at > MAX_DEPTH_AGE_SECONDS:
            return self.max_waiting
        for model, incoming in Counter(job.model for job in jobs).items():
            after = self.depths.waiting.get(model, 0) + incoming
            if after > self.max_waiting - self.headroom:
                return self.max_waiting
        return None

    @staticmethod
    def overloaded(full: QueueFull) -> Overloaded:
        """The error a refused job's caller gets."""
        return Overloaded(
            f"model {full.model} has {full.limit} jobs waiting, its limit; try again later",
            retry_after=RETRY_AFTER_SECONDS,
        )
