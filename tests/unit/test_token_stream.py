"""TokenStream: text from a thread reaches the event loop in order; cancel reaches the thread."""

from __future__ import annotations

import asyncio
import threading

from inferline.application.token_stream import TokenStream


async def test_pieces_put_from_a_thread_arrive_in_order_before_the_close() -> None:
    stream = TokenStream(asyncio.get_running_loop())
    pieces = [f"piece {i} " for i in range(500)]

    def produce() -> None:
        for piece in pieces:
            stream.put(piece)

    await asyncio.to_thread(produce)
    stream.close()  # what the item's completion does, on the loop, after the thread's puts
    received = []
    while (piece := await stream.get()) is not None:
        received.append(piece)
    assert received == pieces


async def test_cancel_is_seen_by_the_producing_thread_and_drops_later_pieces() -> None:
    stream = TokenStream(asyncio.get_running_loop())
    started = threading.Event()
    produced: list[int] = []

    def produce() -> None:
        count = 0
        started.set()
        while not stream.cancelled and count < 1_000_000:
            stream.put("x")
            count += 1
        produced.append(count)

    worker = asyncio.ensure_future(asyncio.to_thread(produce))
    await asyncio.to_thread(started.wait)
    assert await stream.get() == "x"
    stream.cancel()
    await worker
    assert produced[0] < 1_000_000  # the thread stopped early
    stream.put("after")  # ignored once cancelled
    stream.close()
    rest = []
    while (piece := await stream.get()) is not None:
        rest.append(piece)
    assert "after" not in rest


async def test_a_put_after_the_loop_closed_cancels_instead_of_raising() -> None:
    other = asyncio.new_event_loop()
    stream = TokenStream(other)
    other.close()
    stream.put("late")
    assert stream.cancelled
