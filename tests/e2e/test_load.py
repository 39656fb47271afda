"""256 clients for 30 s through the API, on each store, while the worker runs (issue 9).

The mix: single and batch submits, reads of jobs, filtered lists, synchronous
inference (moving average and the LSTM) and WebSocket event subscribers. It must
end with zero errors and zero timeouts, every accepted job succeeded, and no
request slower than the bound below.

Why that bound: the clients are closed-loop, so by Little's law the mean latency
is clients / throughput. 256 clients at the few hundred requests a second that
two shared cores give (the load generator runs on them too) mean about one
second on average; the slowest request may take ten times the run's own mean, at
least 10 s (several times the p99 seen here) and at most 20 s: far below the
30-70 s stalls of a pool deadlock, and not tripped by a machine that is merely
slower that day (a CI run at 224 requests/s, half the usual, had its slowest read
at 10.3 s with a p99 of 5.4 s).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from inferline.testing.mixed_load import MixedLoad, wait_until_finished
from inferline.testing.server import http_server

pytestmark = pytest.mark.slow

CLIENTS = 256
SECONDS = 30.0
SLOWEST_FLOOR, SLOWEST_CEILING = 10.0, 20.0  # seconds, any request of the run


@pytest.mark.timeout(300)
async def test_256_clients_mixed_load_on_every_store(store_url: str, tmp_path: Path) -> None:
    server = http_server(
        "serve", store_url, tmp_path / "server.log", models="moving-average,lstm-forecast"
    )
    server.start().wait_ready()
    try:
        load = MixedLoad(server.url, clients=CLIENTS, seconds=SECONDS, subscribers=8)
        report = await load.run()
        summary = json.dumps(report.summary(), indent=1)

        assert report.errors == {}, summary
        mean_latency = CLIENTS * report.seconds / max(report.requests, 1)  # Little's law
        allowed = min(SLOWEST_CEILING, max(SLOWEST_FLOOR, 10 * mean_latency))
        assert report.slowest < allowed, summary
        assert report.accepted, summary
        assert report.ws_messages > 0, summary
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            statuses = await wait_until_finished(client, report.accepted, timeout=120)
            metrics = (await client.get("/metrics")).text
    finally:
        server.stop()
    assert statuses == {"succeeded": len(report.accepted)}
    assert 'status="500"' not in metrics
    assert '"level": "error"' not in server.log_path.read_text(), server.log_tail()
