"""One micro-batcher per model: synchronous requests and queued jobs meet here.

A batch is formed when `max_batch_size` items wait or the oldest has waited
`max_wait_ms`. Synchronous items go first. The model runs in the batcher's own
executor threads, so the event loop never blocks on compute: up to `instances`
batches at once, one per thread, sharing the model's weights (a model whose
compute releases the GIL, as PyTorch and ONNX Runtime do, then uses one core per
instance without the lock-step of intra-op threads). A batch is formed only when
an instance is free, so items that arrive while all are busy join the next one.
A batch that raises is retried item by item so only the bad items fail.

An item may carry a deadline (UNIX time, as job deadlines are stored, so it means the
same moment in every process), read on the injected `Clock` (the system clock unless a
test moves a fake one): when its batch forms after that moment, it fails with
`DeadlineExceeded` and the batch forms without it. The batching window (`max_wait_ms`)
is a pause of the event loop, so it stays on the real monotonic clock.
An item whose caller gives up (its task is cancelled, e.g. the HTTP client left)
leaves its lane at once, unless its batch has started: then it runs and its result
is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inferline.domain.errors import (
    DeadlineExceeded,
    InferlineError,
    ModelError,
    Overloaded,
    Unavailable,
)
from inferline.ports.clock import SYSTEM_CLOCK, Clock
from inferline.ports.serving import BatchingConfig as BatchingConfig  # re-exported: the
from inferline.ports.serving import Lane as Lane  # batcher's vocabulary is the port's

log = logging.getLogger(__name__)

PredictFn = Callable[[list[Any]], list[Any]]
BatchObserver = Callable[[int, float], None]


@dataclass(slots=True, eq=False)  # compared by identity: removed from its lane when abandoned
class _Pending:
    item: Any
    future: asyncio.Future[Any]
    deadline: float | None = None
    enqueued_at: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Collects items into batches and runs `predict` on them off the event loop."""

    def __init__(
        self,
        name: str,
        predict: PredictFn,
        config: BatchingConfig,
        *,
        on_batch: BatchObserver | None = None,
        on_abandoned: Callable[[Lane], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """`on_batch(size, seconds)` after each batch; `on_abandoned(lane)` for each item
        whose caller gave up before its batch started (the item never reaches the model);
        `clock` is the time items' deadlines are compared with."""
        if config.max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if config.instances < 1:
            raise ValueError("instances must be at least 1")
        self.name = name
        self.config = config
        self.clock = clock
        self._predict = predict
        self._on_batch = on_batch
        self._on_abandoned = on_abandoned
        self._lanes: dict[Lane, deque[_Pending]] = {Lane.SYNC: deque(), Lane.JOB: deque()}
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._instance_freed: asyncio.Event | None = None
        self._recent_batch_seconds = 0.01
        self._running: dict[asyncio.Task[None], list[_Pending]] = {}

    # -- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        """Start the batching loop inside the running event loop."""
        if self._task is not None:
            return
        self._wakeup = asyncio.Event()
        self._instance_freed = asyncio.Event()
        self._executor = ThreadPoolExecutor(
            max_workers=self.config.instances, thread_name_prefix=f"model-{self.name}"
        )
        self._task = asyncio.create_task(self._loop(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Stop batching; items waiting or in a running batch fail with `Unavailable`."""
        if self._task is None:
            return
        running = list(self._running.items())
        for task in (self._task, *(task for task, _ in running)):  # all before any await
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await asyncio.gather(*(task for task, _ in running), return_exceptions=True)
        waiting = [p for _, batch in running for p in batch]
        waiting += [p for lane in self._lanes.values() for p in lane]
        self._running.clear()
        for lane in self._lanes.values():
            lane.clear()
        for pending in waiting:
            if not pending.future.done():
                pending.future.set_exception(Unavailable(f"model {self.name} is stopping"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- submitting ------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Items waiting for a batch, both lanes."""
        return sum(len(lane) for lane in self._lanes.values())

    async def submit(
        self, item: Any, lane: Lane = Lane.SYNC, *, deadline: float | None = None
    ) -> Any:
        """Queue one item and wait for its output; raises the item's own error, or
        `DeadlineExceeded` when `deadline` (UNIX time) passes before its batch forms."""
        if self._task is None or self._wakeup is None:
            raise Unavailable(f"model {self.name} is not running")
        if deadline is not None and deadline <= self.clock.now():
            raise self._deadline_exceeded()
        queue = self._lanes[lane]
        if lane is Lane.SYNC and len(queue) >= self.config.max_pending_sync:
            raise Overloaded(
                f"model {self.name} has {len(queue)} requests waiting; try again shortly",
                retry_after=self._retry_after(len(queue)),
            )
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending = _Pending(item, future, deadline)
        queue.append(pending)
        self._wakeup.set()
        try:
            return await future
        except asyncio.CancelledError:
            self._abandon(lane, pending)
            raise

    def _abandon(self, lane: Lane, pending: _Pending) -> None:
        """The caller gave up: drop its item unless its batch has already started."""
        try:
            self._lanes[lane].remove(pending)
        except ValueError:
            return  # in a batch already (or failed by `stop`): nothing to drop
        if self._on_abandoned is not None:
            self._on_abandoned(lane)

    def _deadline_exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"deadline passed before model {self.name} could run the item")

    def _retry_after(self, waiting: int) -> float:
        batches = math.ceil(waiting / (self.config.max_batch_size * self.config.instances))
        return max(1.0, round(batches * self._recent_batch_seconds, 1))

    # -- the loop --------------------------------------------------------------
    async def _loop(self) -> None:
        assert self._wakeup is not None and self._instance_freed is not None
        while True:
            if not self.pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if len(self._running) >= self.config.instances:
                self._instance_freed.clear()
                await self._instance_freed.wait()
                continue
            await self._wait_for_batch()
            batch = self._take_batch(self._fair_share())
            if batch:
                task = asyncio.create_task(self._run(batch), name=f"batch-{self.name}")
                self._running[task] = batch
                task.add_done_callback(self._batch_done)

    def _fair_share(self) -> int:
        """The batch size for a free instance: waiting items split over every free instance.

        Without the split, the first free instance would take all that waits (up to
        `max_batch_size`) and leave the others idle: with as many clients as one batch
        holds, the batcher would settle into one full batch at a time.
        """
        free = self.config.instances - len(self._running)
        return min(self.config.max_batch_size, max(1, math.ceil(self.pending / free)))

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        if self._instance_freed is not None:
            self._instance_freed.set()

    async def _wait_for_batch(self) -> None:
        assert self._wakeup is not None
        max_wait = self.config.max_wait_ms / 1000.0
        while self.pending < self.config.max_batch_size:
            oldest = min(lane[0].enqueued_at for lane in self._lanes.values() if lane)
            remaining = oldest + max_wait - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self, size: int) -> list[_Pending]:
        """Up to `size` items, sync lane first; items past their deadline fail instead."""
        batch: list[_Pending] = []
        now = self.clock.now()
        for lane in (Lane.SYNC, Lane.JOB):
            queue = self._lanes[lane]
            while queue and len(batch) < size:
                pending = queue.popleft()
                if pending.future.done():  # failed meanwhile: nobody waits for it
                    continue
                if pending.deadline is not None and pending.deadline <= now:
                    pending.future.set_exception(self._deadline_exceeded())
                    continue
                batch.append(pending)
        return batch

    async def _run(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        items = [p.item for p in batch]
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self._predict_isolated, items)
        except Exception as exc:  # the executor itself failed
            log.exception("batch of %s failed outside the model", self.name)
            results = [ModelError(f"{type(exc).__name__}: {exc}")] * len(batch)
        elapsed = time.perf_counter() - started
        self._recent_batch_seconds = 0.8 * self._recent_batch_seconds + 0.2 * elapsed
        if self._on_batch is not None:
            self._on_batch(len(batch), elapsed)
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():
                continue
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)

    def _predict_isolated(self, items: list[Any]) -> list[Any]:
        """Run the batch; if it raises, run each item alone so one bad item fails alone."""
        try:
            return self._checked(items)
        except Exception as exc:
            if len(items) == 1:
                return [_as_error(exc)]
            log.warning(
                "batch of %d for %s raised %s; retrying items one by one",
                len(items),
                self.name,
                type(exc).__name__,
            )
        results: list[Any] = []
        for item in items:
            try:
                results.extend(self._checked([item]))
            except Exception as exc:
                results.append(_as_error(exc))
        return results

    def _checked(self, items: list[Any]) -> list[Any]:
        outputs = self._predict(items)
        if len(outputs) != len(items):
            raise ModelError(
                f"model {self.name} returned {len(outputs)} outputs for {len(items)} inputs"
            )
        return list(outputs)


def _as_error(exc: Exception) -> InferlineError:
    """A model's own error keeps its kind (e.g. an input the model cannot take is
    InvalidInput); anything else it raised is a ModelError."""
    if isinstance(exc, InferlineError):
        return exc
    return ModelError(f"{type(exc).__name__}: {exc}")
