"""Where a worker gets its jobs (`ports.claims.JobSource`): straight from the store's
claim queue, or from a queue of job ids.

Either way the job is claimed in the store (status `running`, attempt counted,
leased) before it runs, so the store's fencing keeps the effect exactly-once.
"""

from __future__ import annotations

import logging

from inferline.domain.jobs import Job
from inferline.ports.claims import ClaimQueue
from inferline.ports.queue import Delivery, JobQueue

log = logging.getLogger(__name__)


class StoreJobSource:
    """The embedded default: claim rows from the store (`FOR UPDATE SKIP LOCKED`)."""

    blocks = False

    def __init__(self, store: ClaimQueue, worker_id: str, lease_seconds: float) -> None:
        self.store = store
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds

    async def claim(self, model: str, limit: int) -> list[Job]:
        return await self.store.claim_jobs(model, limit, self.worker_id, self.lease_seconds)

    async def settle(self, job_ids: list[str]) -> None:
        return None

    async def touch(self, job_ids: list[str]) -> None:
        return None

    async def maintain(self) -> int:
        return 0

    def adopt(self, jobs: list[Job]) -> None:
        return None  # claims already take the oldest runnable jobs first


class QueueJobSource:
    """Read job ids from a queue, claim those jobs in the store, acknowledge after commit.

    Messages whose job cannot run (finished, running elsewhere, not due yet, gone)
    are acknowledged at once: the relay dispatches the job again when it becomes
    runnable. Messages left unacknowledged by a dead consumer are reclaimed after
    `reclaim_idle_seconds`; one delivered more often than its job's `max_attempts`
    is poison and its job ends `dead`.
    """

    blocks = True

    def __init__(
        self,
        store: ClaimQueue,
        queue: JobQueue,
        worker_id: str,
        lease_seconds: float,
        *,
        block_seconds: float = 1.0,
        reclaim_idle_seconds: float = 10.0,
        forget_consumers_after_seconds: float = 3600.0,
    ) -> None:
        self.store = store
        self.queue = queue
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.block_seconds = block_seconds
        self.reclaim_idle_seconds = reclaim_idle_seconds
        self.forget_consumers_after_seconds = forget_consumers_after_seconds
        self._held: dict[str, Delivery] = {}  # job id -> the message it came in
        self._reclaimed: dict[str, list[Delivery]] = {}
        self._models: set[str] = set()
        self.buried = 0

    async def claim(self, model: str, limit: int) -> list[Job]:
        self._models.add(model)
        waiting = self._reclaimed.get(model, [])
        deliveries, waiting[:limit] = waiting[:limit], []
        if len(deliveries) < limit:
            wait = 0.0 if deliveries else self.block_seconds
            deliveries += await self.queue.read(
                model, self.worker_id, limit - len(deliveries), wait
            )
        if not deliveries:
            return []
        try:
            return await self._claim_delivered(model, deliveries)
        except Exception:
            # Keep them (touched by the heartbeat) for the next try: the store may be away.
            self._reclaimed.setdefault(model, [])[:0] = deliveries
            raise

    async def _claim_delivered(self, model: str, deliveries: list[Delivery]) -> list[Job]:
        suspects = {d.job_id: d.deliveries for d in deliveries if d.deliveries > 1}
        buried = {j.id for j in await self.store.bury_poison(suspects)} if suspects else set()
        if buried:
            self.buried += len(buried)
            log.warning("buried %d poison jobs of %s", len(buried), model)
        wanted = [d.job_id for d in deliveries if d.job_id not in buried]
        claimed = await self.store.claim_jobs_by_id(wanted, self.worker_id, self.lease_seconds)
        claimed_ids = {job.id for job in claimed}
        done: list[Delivery] = []
        for delivery in deliveries:
            if delivery.job_id in claimed_ids and delivery.job_id not in self._held:
                self._held[delivery.job_id] = delivery
            else:
                done.append(delivery)
        await self._ack(done)
        return claimed

    def adopt(self, jobs: list[Job]) -> None:
        """Claim these ahead of the queue (the relay's new message for them is acked later):
        a dead worker's jobs must not wait behind the whole backlog of their stream."""
        for job in jobs:
            self._reclaimed.setdefault(job.model, []).append(Delivery("", job.id, job.model))

    async def settle(self, job_ids: list[str]) -> None:
        await self._ack([d for d in (self._held.pop(i, None) for i in job_ids) if d is not None])

    async def _ack(self, deliveries: list[Delivery]) -> None:
        """Acknowledge; a failure is only logged: the messages come back and are acked then."""
        deliveries = [d for d in deliveries if d.message_id]  # adopted jobs have no message
        if not deliveries:
            return
        try:
            await self.queue.ack(deliveries)
        except Exception as exc:
            log.warning("could not acknowledge %d messages: %s", len(deliveries), exc)

    async def touch(self, job_ids: list[str]) -> None:
        by_model: dict[str, list[str]] = {}
        held = (self._held.get(job_id) for job_id in job_ids)
        stashed = (d for waiting in self._reclaimed.values() for d in waiting)
        for delivery in (*held, *stashed):
            if delivery is not None and delivery.message_id:
                by_model.setdefault(delivery.model, []).append(delivery.message_id)
        for model, message_ids in by_model.items():
            await self.queue.touch(model, self.worker_id, message_ids)

    async def maintain(self) -> int:
        reclaimed = 0
        for model in sorted(self._models):
            taken = await self.queue.reclaim(
                model, self.worker_id, self.reclaim_idle_seconds, count=500
            )
            waiting = self._reclaimed.setdefault(model, [])
            known = {d.message_id for d in waiting}
            taken = [d for d in taken if d.message_id not in known]
            if taken:
                log.info("reclaimed %d messages of %s from dead consumers", len(taken), model)
                waiting.extend(taken)
                reclaimed += len(taken)
            await self.queue.forget_consumers(model, self.forget_consumers_after_seconds)
        return reclaimed
