"""`POST /api/v1/ocr` whose client leaves: its document is taken out of the batcher, never
read by Tesseract, and counted (the route races the read against the disconnect)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from inferline.testing.documents import ENGLISH_LINES, encode, png, render
from inferline.testing.polling import poll_until_async
from inferline.testing.server import ServerProcess
from tests.e2e.test_ocr_api import ocr_server, upload
from tests.support.servers import metric_value

MODEL = {"model": "ocr-tesseract"}
BLOCKING_PAGES = 20  # seconds of Tesseract on one engine: the leavers queue behind them


@pytest.fixture(scope="module")
def standard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One document at a time (the standard profile), long documents allowed."""
    tmp = tmp_path_factory.mktemp("ocr-disconnect")
    process = ocr_server(
        tmp, models="ocr-tesseract", profile="standard", ocr_max_pages=str(BLOCKING_PAGES)
    )
    process.start().wait_ready()
    yield process
    process.stop()


@pytest.mark.timeout(300)  # the server starts and reads 40 pages: slow on a busy machine
async def test_a_client_that_leaves_takes_its_document_out_of_the_batcher(
    standard: ServerProcess,
) -> None:
    long_document = encode([render(ENGLISH_LINES)] * BLOCKING_PAGES, "TIFF")
    async with httpx.AsyncClient(base_url=standard.url, timeout=120) as client:
        metrics = ""

        async def metric_is(name: str, value: float) -> bool:
            nonlocal metrics
            metrics = (await client.get("/metrics")).text
            return metric_value(metrics, name, **MODEL) == value

        # two long documents: one is read while the other waits (pending 1), for seconds
        blockers = [
            asyncio.ensure_future(client.post("/api/v1/ocr", **upload(long_document, "l.tiff")))
            for _ in range(2)
        ]
        await poll_until_async(
            lambda: metric_is("inferline_batcher_pending_items", 1.0),
            "one long document is read, the other waits",
            timeout=30,
            interval=0.02,
        )
        leavers = [httpx.AsyncClient(base_url=standard.url, timeout=120) for _ in range(3)]
        abandoned = [
            asyncio.ensure_future(c.post("/api/v1/ocr", **upload(png(ENGLISH_LINES[:1]))))
            for c in leavers
        ]
        await poll_until_async(
            lambda: metric_is("inferline_batcher_pending_items", 4.0),
            "three documents wait behind the long ones",
            timeout=30,
            interval=0.02,
        )
        for request in abandoned:  # the clients give up and close their connections
            request.cancel()
        await asyncio.gather(*abandoned, return_exceptions=True)
        for leaver in leavers:
            await leaver.aclose()
        await poll_until_async(
            lambda: metric_is("inferline_sync_items_abandoned_total", 3.0),
            "the three counted as abandoned",
            timeout=30,
            interval=0.02,
        )
        assert metric_value(metrics, "inferline_batcher_pending_items", **MODEL) in (0.0, 1.0)
        for done in await asyncio.gather(*blockers):
            assert done.status_code == 200, done.text
            assert done.json()["pages"] == BLOCKING_PAGES
        metrics = (await client.get("/metrics")).text
    assert metric_value(metrics, "inferline_batch_size_count", **MODEL) == 2, (
        "a document whose client left reached the model"
    )
    status = {"route": "/api/v1/ocr", "method": "POST", "status": "499"}
    assert metric_value(metrics, "inferline_http_requests_total", **status) == 3
