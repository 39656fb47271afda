"""Synchronous inference whose client disconnects: dropped from the batcher, and counted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from inferline.testing.polling import poll_until_async
from tests.support.servers import GatedServer, metric_value

INFER = "/api/v1/models/test-gated/infer"
MODEL = {"model": "test-gated"}


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    await poll_until_async(condition, what, timeout=timeout, interval=0.02)


async def test_requests_whose_client_left_never_reach_the_model(gated: GatedServer) -> None:
    async with httpx.AsyncClient(base_url=gated.url, timeout=60) as client:
        metrics = ""

        async def scrape() -> None:
            nonlocal metrics
            metrics = (await client.get("/metrics")).text

        async def metric_is(name: str, value: float) -> bool:
            await scrape()
            return metric_value(metrics, name, **MODEL) == value

        held_input = {"input": {"value": 1, "hold": True}}
        blocker = asyncio.ensure_future(client.post(INFER, json=held_input))
        await until(lambda: gated.seen() == [[1.0]], "the blocking batch is in the model")
        leavers = [httpx.AsyncClient(base_url=gated.url, timeout=60) for _ in range(3)]
        abandoned = [
            asyncio.ensure_future(c.post(INFER, json={"input": {"value": 10 + i}}))
            for i, c in enumerate(leavers)
        ]
        await poll_until_async(
            lambda: metric_is("inferline_batcher_pending_items", 3),
            "the requests reached the batcher",
            timeout=30,
        )
        for request in abandoned:  # the clients give up and close their connections
            request.cancel()
        await asyncio.gather(*abandoned, return_exceptions=True)
        for leaver in leavers:
            await leaver.aclose()
        await poll_until_async(
            lambda: metric_is("inferline_sync_items_abandoned_total", 3),
            "the three counted as abandoned",
            timeout=30,
        )
        assert metric_value(metrics, "inferline_batcher_pending_items", **MODEL) == 0

        gated.open_gate()
        held = await blocker
        assert held.status_code == 200 and held.json()["output"]["doubled"] == 2
        after = await client.post(INFER, json={"input": {"value": 5}})
        assert after.json()["output"] == {"doubled": 10, "batch_size": 1}
        await scrape()
    assert gated.seen() == [[1.0], [5.0]], "an abandoned request reached the model"
    assert metric_value(metrics, "inferline_batch_size_count", **MODEL) == 2
    assert metric_value(metrics, "inferline_batch_size_sum", **MODEL) == 2
    status = {"route": "/api/v1/models/{name}/infer", "method": "POST", "status": "499"}
    assert metric_value(metrics, "inferline_http_requests_total", **status) == 3
