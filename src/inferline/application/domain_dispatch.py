"""The domain event dispatcher: the outbox to the event stream, at least once, one sender.

One dispatcher sends at a time across every process: it must hold the lease lock
(`LeaseLock`, name `config.name`), renewed while it works. Each acquisition has a
fencing token; the dispatcher presents it to the outbox first (`fence`) and with every
mark, and the outbox refuses marks under an older token than the newest it has seen,
so a dispatcher that lost its lease (paused past its TTL) cannot mark anything.

A round: read up to `batch_size` (100) unsent due events in `seq` order; send them
as one batch to the stream (`StreamSink.send` returns once the broker acknowledged
every record); then mark them sent. When the send fails, each event of the batch
counts a failed attempt and waits `retry_base_seconds · 2^(attempts-1)` (at most
`retry_max_seconds`, 50-100 % of it, one draw per batch) before it is due again;
later events are not held back by it, so after a failure events can reach the stream
out of `seq` order (consumers that need one key's order compare `occurred_at`). A
crash between send and mark sends the batch again after the restart: consumers
deduplicate by the event id (`application/domain_consumers.py`).

Topics: `topic_prefix + type` (default `domain.order-placed`), record key = the
event's key (Kafka partitions by it, so one user's events stay in one partition), value =
the event's JSON (`DomainEvent.to_json`). The broker adapter adds the deployment's
prefix (Kafka: `INFERLINE_KAFKA_TOPIC_PREFIX`; Redis: `<redis_prefix>:`).

Sent events are deleted `retention_seconds` after they were sent (every
`prune_every_seconds`, by the lease holder).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from inferline.application.resilience import describe
from inferline.core.tasks import cancel_and_wait
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.domain_events import DomainOutbox, FencedOut, PendingEvent, SendFailure
from inferline.ports.locks import Lease, LeaseLock
from inferline.ports.metrics import Counter, Gauge, Labelled
from inferline.ports.streams import OutRecord, StreamSink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    name: str = "domain-events"
    """The lock's name and the outbox fence's: one sender per name."""
    batch_size: int = 100
    topic_prefix: str = "domain."
    lease_seconds: float = 10.0
    """The lease's TTL; renewed every third of it while the dispatcher runs."""
    idle_seconds: float = 0.2
    """Pause between rounds when nothing was due (a commit in this process wakes it)."""
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    retention_seconds: float = 7 * 24 * 3600
    prune_every_seconds: float = 60.0


class DispatchMetrics(Protocol):
    """The dispatcher's metrics (core/metrics.py implements them on Prometheus)."""

    @property
    def domain_events_sent(self) -> Labelled[Counter]: ...

    @property
    def domain_events_failed(self) -> Labelled[Counter]: ...

    @property
    def domain_events_backlog(self) -> Gauge: ...

    @property
    def domain_events_lag(self) -> Gauge: ...

    @property
    def domain_events_leader(self) -> Gauge: ...


def topic_for(prefix: str, event_type: str) -> str:
    """The topic of an event type: the prefix, then the type (`domain.order-placed`)."""
    return f"{prefix}{event_type}"


def to_record(pending: PendingEvent, prefix: str) -> OutRecord:
    event = pending.event
    value = json.dumps(event.to_json(), separators=(",", ":")).encode()
    return OutRecord(topic=topic_for(prefix, event.type), key=event.key, value=value)


MEASURE_EVERY_SECONDS = 5.0  # backlog and lag gauges, read while idle

AfterSend = Callable[[list[PendingEvent]], Awaitable[None]]


class DomainEventDispatcher:
    """Sends the domain outbox to a stream while holding the lease; see the module."""

    def __init__(
        self,
        outbox: DomainOutbox,
        sink: StreamSink,
        lock: LeaseLock,
        *,
        holder: str,
        config: DispatcherConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        metrics: DispatchMetrics | None = None,
        after_send: AfterSend | None = None,
    ) -> None:
        """`after_send` runs between the acknowledged send and the mark (tests use it to
        stop a process exactly there)."""
        self.outbox = outbox
        self.sink = sink
        self.lock = lock
        self.holder = holder
        self.config = config or DispatcherConfig()
        self.clock = clock
        self.metrics = metrics
        self.after_send = after_send
        self.lease: Lease | None = None
        self.sent = 0
        self.failed = 0
        self.last_error: str | None = None
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._pruned_at = 0.0
        self._measured_at = 0.0
        self._lease_until = 0.0  # when the held lease ends unless renewed (self.clock)

    # -- lifecycle ----------------------------------------------------------------
    def wake(self) -> None:
        """Something was committed in this process: look now."""
        self._woken.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="domain-event-dispatcher")

    async def stop(self) -> None:
        for task in (self._task, self._renewer):
            await cancel_and_wait(task)
        self._task = self._renewer = None
        if self.lease is not None:
            lease, self.lease = self.lease, None
            try:
                await self.lock.release(lease)
            except Exception as exc:
                log.warning("could not release the dispatcher's lock (it expires): %s", exc)
        self._set_leader(False)

    @property
    def is_leader(self) -> bool:
        return self.lease is not None

    def status(self) -> dict[str, Any]:
        """For `/health`: whether this process sends now, and what it did so far."""
        return {
            "leader": self.is_leader,
            "token": self.lease.token if self.lease is not None else None,
            "sent": self.sent,
            "failed": self.failed,
            "last_error": self.last_error,
        }

    # -- the lease ------------------------------------------------------------------
    async def ensure_lease(self) -> bool:
        """Hold the lease (acquire it when free); True when this dispatcher may send."""
        if self.lease is not None:
            if self.clock.now() < self._lease_until:
                return True
            # paused past its TTL without renewing (the renewal never ran): do not send
            self._lose(self.lease, "it was not renewed within its TTL")
        config = self.config
        asked_at = self.clock.now()
        lease = await self.lock.acquire(config.name, self.holder, config.lease_seconds)
        if lease is None:
            return False
        try:
            newest = await self.outbox.fence(config.name, lease.token)
            if newest > lease.token:  # the lock's counter is behind the outbox (Redis lost it)
                await self.lock.raise_floor(config.name, newest)
                await self.lock.release(lease)
                lease = await self.lock.acquire(config.name, self.holder, config.lease_seconds)
                if lease is None:
                    return False
                if await self.outbox.fence(config.name, lease.token) > lease.token:
                    await self.lock.release(lease)
                    return False
        except BaseException:
            if lease is not None:  # free it now rather than after its TTL
                with contextlib.suppress(Exception):
                    await self.lock.release(lease)
            raise
        log.info("%s holds the %s lease (token %d)", self.holder, config.name, lease.token)
        self.lease = lease
        self._lease_until = asked_at + config.lease_seconds
        self._set_leader(True)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew(), name="domain-lease-renewal")
        return True

    async def _renew(self) -> None:
        every = self.config.lease_seconds / 3
        while self.lease is not None:
            await asyncio.sleep(every)
            lease = self.lease
            if lease is None:
                return
            asked_at = self.clock.now()
            try:
                kept = await self.lock.renew(lease, self.config.lease_seconds)
            except Exception as exc:
                log.warning("renewing the %s lease failed: %s", self.config.name, exc)
                continue  # try again; the fence protects the marks meanwhile
            if not kept:
                self._lose(lease, "its lease ran out")
            elif self.lease == lease:
                self._lease_until = asked_at + self.config.lease_seconds

    def _lose(self, lease: Lease, why: str) -> None:
        if self.lease == lease:
            log.warning(
                "%s lost the %s lease (token %d): %s", self.holder, lease.name, lease.token, why
            )
            self.lease = None
            self._set_leader(False)

    def _set_leader(self, leader: bool) -> None:
        if self.metrics is not None:
            self.metrics.domain_events_leader.set(1.0 if leader else 0.0)

    # -- one round ------------------------------------------------------------------
    async def dispatch_once(self) -> int:
        """Send one batch if this dispatcher holds the lease; returns events sent."""
        now = self.clock.now()
        await self._measure(now)  # every relay, so the gauges exist even without a sender
        if not await self.ensure_lease():
            return 0
        lease = self.lease
        assert lease is not None
        await self._prune(now)
        batch = await self.outbox.due_events(self.config.batch_size, now)
        if not batch:
            return 0
        try:
            await self.sink.send([to_record(p, self.config.topic_prefix) for p in batch])
        except Exception as exc:
            await self._failed(lease, batch, exc)
            return 0
        if self.after_send is not None:
            await self.after_send(batch)
        try:
            await self.outbox.mark_sent(
                lease.name, lease.token, [p.event.id for p in batch], self.clock.now()
            )
        except FencedOut as exc:
            log.warning("marking %d sent domain events was refused: %s", len(batch), exc)
            self._lose(lease, str(exc))
            return 0
        self.sent += len(batch)
        if self.metrics is not None:
            for pending in batch:
                self.metrics.domain_events_sent.labels(pending.event.type).inc()
        return len(batch)

    async def _failed(self, lease: Lease, batch: list[PendingEvent], exc: Exception) -> None:
        self.last_error = describe(exc)
        self.failed += len(batch)
        log.warning(
            "sending %d domain events failed (%s); they are retried with backoff",
            len(batch),
            self.last_error,
        )
        now = self.clock.now()
        share = 0.5 + random.random() / 2  # one jitter for the batch: it stays together
        failures = [
            SendFailure(p.event.id, now + self.backoff(p.attempts + 1, share), self.last_error)
            for p in batch
        ]
        if self.metrics is not None:
            for pending in batch:
                self.metrics.domain_events_failed.labels(pending.event.type).inc()
        try:
            await self.outbox.mark_failed(lease.name, lease.token, failures)
        except FencedOut as fenced:
            self._lose(lease, str(fenced))

    def backoff(self, failures: int, share: float | None = None) -> float:
        """Seconds before the next try after `failures` failed ones: exponential, capped,
        `share` of it (default: at random between 50 % and 100 %, so that the retries of
        dispatchers that failed together spread out)."""
        config = self.config
        base = min(config.retry_max_seconds, config.retry_base_seconds * 2 ** (failures - 1))
        return float(base * (share if share is not None else 0.5 + random.random() / 2))

    async def _prune(self, now: float) -> None:
        """Delete sent events past the retention (the holder, once a minute)."""
        if now - self._pruned_at >= self.config.prune_every_seconds:
            self._pruned_at = now
            deleted = await self.outbox.prune(now - self.config.retention_seconds)
            if deleted:
                log.info("pruned %d domain events sent before the retention", deleted)

    async def _measure(self, now: float) -> None:
        """The backlog and lag gauges, every 5 s."""
        if self.metrics is not None and now - self._measured_at >= MEASURE_EVERY_SECONDS:
            self._measured_at = now
            backlog = await self.outbox.backlog()
            self.metrics.domain_events_backlog.set(backlog.unsent)
            oldest = backlog.oldest_occurred_at
            self.metrics.domain_events_lag.set(0.0 if oldest is None else max(0.0, now - oldest))

    async def run(self) -> None:
        delay = self.config.idle_seconds
        while True:
            try:
                moved = await self.dispatch_once()
                delay = self.config.idle_seconds
            except Exception:
                log.exception("domain event dispatcher failed; retrying in %.1fs", delay)
                moved, delay = 0, min(delay * 2, 5.0)
            if moved < self.config.batch_size:
                # a follower looks again soon: the lease may be free by then
                pause = delay if self.is_leader else min(self.config.lease_seconds / 3, 1.0)
                self._woken.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), pause)
