"""The micro-batcher: size and time limits, lanes, failure isolation, backpressure."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from inferline.domain.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelError,
    Overloaded,
    Unavailable,
)
from inferline.runtime.batcher import BatchingConfig, Lane, MicroBatcher
from inferline.testing.clock import FakeClock
from inferline.testing.polling import poll_until_async


class Recorder:
    """A predict function that records each batch and can block until released."""

    def __init__(self, fail_on: set[int] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on or set()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.threads: set[str] = set()

    def __call__(self, items: list[int]) -> list[int]:
        self.entered.set()
        self.gate.wait(5)
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(items))
        if self.fail_on & set(items):
            raise ValueError(f"bad item in {items}")
        return [i * 10 for i in items]


async def model_busy(recorder: Recorder) -> None:
    """Wait until the model thread is inside predict (holding a batch)."""
    assert await asyncio.to_thread(recorder.entered.wait, 5)


async def started(recorder: Recorder, **config: Any) -> MicroBatcher:
    batcher = MicroBatcher("m", recorder, BatchingConfig(**config))
    await batcher.start()
    return batcher


async def test_full_batch_runs_without_waiting_for_the_timer() -> None:
    recorder = Recorder()
    batcher = await started(recorder, max_batch_size=4, max_wait_ms=10_000)
    begun = time.monotonic()
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)))
    assert time.monotonic() - begun < 5  # far below the 10 s wait
    assert results == [0, 10, 20, 30]
    assert recorder.batches == [[0, 1, 2, 3]]
    await batcher.stop()


async def test_partial_batch_runs_after_max_wait() -> None:
    recorder = Recorder()
    batcher = await started(recorder, max_batch_size=64, max_wait_ms=30)
    begun = time.monotonic()
    assert list(await asyncio.gather(batcher.submit(1), batcher.submit(2))) == [10, 20]
    assert time.monotonic() - begun >= 0.03
    assert recorder.batches == [[1, 2]]
    await batcher.stop()


async def test_batches_never_exceed_the_size_limit() -> None:
    recorder = Recorder()
    batcher = await started(recorder, max_batch_size=3, max_wait_ms=5)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [i * 10 for i in range(10)]
    assert all(len(b) <= 3 for b in recorder.batches)
    assert sorted(i for b in recorder.batches for i in b) == list(range(10))
    await batcher.stop()


async def test_sync_requests_go_before_queued_jobs() -> None:
    recorder = Recorder()
    recorder.gate.clear()  # hold the first batch so both lanes fill up
    batcher = await started(recorder, max_batch_size=2, max_wait_ms=1)
    first = asyncio.ensure_future(batcher.submit(0, Lane.JOB))
    await model_busy(recorder)
    jobs = [asyncio.ensure_future(batcher.submit(i, Lane.JOB)) for i in (1, 2)]
    syncs = [asyncio.ensure_future(batcher.submit(i, Lane.SYNC)) for i in (101, 102)]
    await poll_until_async(lambda: batcher.pending >= 4, "4 waiting", timeout=5, interval=0)
    recorder.gate.set()
    await asyncio.gather(first, *jobs, *syncs)
    assert recorder.batches[1] == [101, 102]
    assert recorder.batches[2] == [1, 2]
    await batcher.stop()


async def test_a_bad_item_fails_alone() -> None:
    recorder = Recorder(fail_on={3})
    batcher = await started(recorder, max_batch_size=5, max_wait_ms=50)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    assert results[:3] == [0, 10, 20] and results[4] == 40
    assert isinstance(results[3], ModelError)
    assert "bad item" in str(results[3])
    await batcher.stop()


async def test_an_input_the_model_refuses_keeps_its_error_kind() -> None:
    def refuse(items: list[int]) -> list[int]:
        raise InvalidInput("too long for this model")

    batcher = MicroBatcher("m", refuse, BatchingConfig(4, 1))
    await batcher.start()
    with pytest.raises(InvalidInput, match="too long for this model"):
        await batcher.submit(1)
    await batcher.stop()


async def test_wrong_number_of_outputs_is_a_model_error() -> None:
    batcher = MicroBatcher("m", lambda items: items[:-1], BatchingConfig(4, 1))
    await batcher.start()
    with pytest.raises(ModelError, match="returned 0 outputs for 1 inputs"):
        await batcher.submit(1)
    await batcher.stop()


async def test_full_sync_queue_is_rejected_with_retry_after() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = await started(recorder, max_batch_size=1, max_wait_ms=0, max_pending_sync=2)
    waiting = [asyncio.ensure_future(batcher.submit(0))]
    await model_busy(recorder)
    waiting += [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
    await poll_until_async(lambda: batcher.pending >= 2, "2 waiting", timeout=5, interval=0)
    with pytest.raises(Overloaded) as caught:
        await batcher.submit(99)
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    recorder.gate.set()
    assert await asyncio.gather(*waiting) == [0, 10, 20]
    await batcher.stop()


async def test_compute_runs_off_the_event_loop() -> None:
    def slow(items: list[int]) -> list[int]:
        time.sleep(0.3)
        return items

    batcher = MicroBatcher("m", slow, BatchingConfig(1, 0))
    await batcher.start()
    pending = asyncio.ensure_future(batcher.submit(1))
    ticks = 0
    while not pending.done():
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks >= 10  # the loop kept running while the model slept
    await batcher.stop()


async def test_stop_fails_waiting_items_and_later_submits() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = await started(recorder, max_batch_size=1, max_wait_ms=0)
    running = asyncio.ensure_future(batcher.submit(1))
    await model_busy(recorder)
    queued = asyncio.ensure_future(batcher.submit(2))
    await poll_until_async(lambda: batcher.pending >= 1, "1 waiting", timeout=5, interval=0)
    stopping = asyncio.ensure_future(batcher.stop())
    recorder.gate.set()
    await stopping
    for abandoned in (running, queued):
        with pytest.raises(Unavailable):
            await abandoned
    with pytest.raises(Unavailable):
        await batcher.submit(3)


async def test_a_caller_that_gives_up_is_skipped() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = await started(recorder, max_batch_size=1, max_wait_ms=0)
    first = asyncio.ensure_future(batcher.submit(1))
    await model_busy(recorder)
    abandoned = asyncio.ensure_future(batcher.submit(2))
    await poll_until_async(lambda: batcher.pending >= 1, "1 waiting", timeout=5, interval=0)
    abandoned.cancel()
    recorder.gate.set()
    assert await first == 10
    assert await batcher.submit(3) == 30
    assert [2] not in recorder.batches
    await batcher.stop()


async def test_a_cancelled_item_leaves_its_lane_at_once_and_is_counted() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    abandoned_lanes: list[Lane] = []
    batcher = MicroBatcher("m", recorder, BatchingConfig(4, 0), on_abandoned=abandoned_lanes.append)
    await batcher.start()
    first = asyncio.ensure_future(batcher.submit(1))
    await model_busy(recorder)
    gone = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3)]
    job = asyncio.ensure_future(batcher.submit(4, Lane.JOB))
    kept = asyncio.ensure_future(batcher.submit(5))
    await poll_until_async(
        lambda: batcher.pending,
        "four items waiting",
        timeout=5,
        accept=lambda n: n >= 4,
        interval=0,
    )
    for task in (*gone, job):
        task.cancel()
    await asyncio.gather(*gone, job, return_exceptions=True)
    assert batcher.pending == 1  # dropped now, not when a batch would have formed
    assert abandoned_lanes == [Lane.SYNC, Lane.SYNC, Lane.JOB]
    recorder.gate.set()
    assert list(await asyncio.gather(first, kept)) == [10, 50]
    assert recorder.batches == [[1], [5]]
    await batcher.stop()


async def test_an_item_whose_deadline_passes_while_it_waits_fails_without_running() -> None:
    recorder = Recorder()
    recorder.gate.clear()  # a slow batch holds the only instance
    batcher = await started(recorder, max_batch_size=4, max_wait_ms=0)
    first = asyncio.ensure_future(batcher.submit(1, Lane.JOB))
    await model_busy(recorder)
    deadline = time.time() + 0.05
    late = asyncio.ensure_future(batcher.submit(2, Lane.JOB, deadline=deadline))
    on_time = asyncio.ensure_future(batcher.submit(3, Lane.JOB, deadline=time.time() + 600))
    await poll_until_async(
        lambda: batcher.pending, "two items waiting", timeout=5, accept=lambda n: n >= 2, interval=0
    )
    # the system clock (the batcher's default) itself is the condition here
    await poll_until_async(
        time.time, "the deadline passed", timeout=5, accept=lambda t: t > deadline
    )
    recorder.gate.set()
    with pytest.raises(DeadlineExceeded, match="deadline passed"):
        await late
    assert list(await asyncio.gather(first, on_time)) == [10, 30]
    assert recorder.batches == [[1], [3]]  # the next batch formed without the late item
    await batcher.stop()


async def test_a_deadline_passes_on_the_injected_clock_while_the_item_waits() -> None:
    clock = FakeClock()  # stands still: only `advance` makes the deadline pass
    recorder = Recorder()
    recorder.gate.clear()  # a slow batch holds the only instance
    batcher = MicroBatcher(
        "m", recorder, BatchingConfig(max_batch_size=4, max_wait_ms=0), clock=clock
    )
    await batcher.start()
    first = asyncio.ensure_future(batcher.submit(1, Lane.JOB))
    await model_busy(recorder)
    late = asyncio.ensure_future(batcher.submit(2, Lane.JOB, deadline=clock.now() + 60))
    on_time = asyncio.ensure_future(batcher.submit(3, Lane.JOB, deadline=clock.now() + 600))
    await poll_until_async(
        lambda: batcher.pending, "two items waiting", timeout=5, accept=lambda n: n == 2, interval=0
    )
    clock.advance(61)
    recorder.gate.set()
    with pytest.raises(DeadlineExceeded, match="deadline passed"):
        await late
    assert [await first, await on_time] == [10, 30]
    assert recorder.batches == [[1], [3]]
    with pytest.raises(DeadlineExceeded):  # refused at once: past by the clock, not the wall
        await batcher.submit(4, Lane.JOB, deadline=clock.now() - 1)
    assert await batcher.submit(5, Lane.JOB, deadline=clock.now() + 1) == 50
    await batcher.stop()


async def test_an_item_already_past_its_deadline_is_refused_at_once() -> None:
    recorder = Recorder()
    batcher = await started(recorder, max_batch_size=4, max_wait_ms=0)
    with pytest.raises(DeadlineExceeded):
        await batcher.submit(1, Lane.JOB, deadline=time.time() - 1)
    assert batcher.pending == 0 and recorder.batches == []
    await batcher.stop()


async def test_instances_run_batches_at_the_same_time() -> None:
    both_inside = threading.Barrier(2, timeout=5)  # breaks unless two batches run at once

    def predict(items: list[int]) -> list[int]:
        both_inside.wait()
        return items

    batcher = MicroBatcher("m", predict, BatchingConfig(2, 0, instances=2))
    await batcher.start()
    assert await asyncio.gather(*(batcher.submit(i) for i in range(4))) == [0, 1, 2, 3]
    await batcher.stop()


async def test_waiting_items_are_split_over_free_instances() -> None:
    recorder = Recorder()
    batcher = await started(recorder, max_batch_size=64, max_wait_ms=50, instances=2)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    assert results == [i * 10 for i in range(10)]
    assert sorted(len(b) for b in recorder.batches) == [5, 5]  # not one batch of 10
    await batcher.stop()


async def test_a_busy_instance_leaves_the_next_batch_to_another() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = await started(recorder, max_batch_size=4, max_wait_ms=0, instances=2)
    first = asyncio.ensure_future(batcher.submit(1))
    await model_busy(recorder)
    recorder.entered.clear()
    second = asyncio.ensure_future(batcher.submit(2))
    await model_busy(recorder)  # a second batch started while the first is held
    recorder.gate.set()
    assert list(await asyncio.gather(first, second)) == [10, 20]
    assert sorted(recorder.batches) == [[1], [2]]
    await batcher.stop()


async def test_stop_fails_every_running_batch() -> None:
    inside = threading.Semaphore(0)
    release = threading.Event()

    def predict(items: list[int]) -> list[int]:
        inside.release()
        release.wait(5)
        return items

    batcher = MicroBatcher("m", predict, BatchingConfig(1, 0, instances=2))
    await batcher.start()
    running = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
    for _ in running:  # both batches are inside the model
        assert await asyncio.to_thread(inside.acquire, True, 5)
    stopping = asyncio.ensure_future(batcher.stop())
    release.set()
    await stopping
    for abandoned in running:
        with pytest.raises(Unavailable):
            await abandoned


def test_instances_must_be_positive() -> None:
    with pytest.raises(ValueError, match="instances must be at least 1"):
        MicroBatcher("m", lambda items: items, BatchingConfig(4, 1, instances=0))
