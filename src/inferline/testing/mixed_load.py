"""A mixed load through the HTTP API, as many clients send it: for the load test and the soak.

Every client loops over the routes a user calls (submit one job or a batch, read a
job, list jobs with filters, synchronous inference) for a fixed time, optionally
paced to a total request rate; WebSocket subscribers read `/api/v1/events`
meanwhile. Each answer is checked (status and body); a request that fails,
times out or answers an unexpected status counts as an error of its route.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from inferline.testing.load import MOVING_AVERAGE_INPUT
from inferline.testing.polling import poll_until_async
from inferline.testing.server import FINISHED

LSTM_INPUT = {"series": [1.0, 3.0, 5.0, 3.0, 1.0, 3.0, 5.0, 3.0, 1.0, 3.0, 5.0, 3.0], "horizon": 4}
BATCH_SIZE = 10  # jobs per batch submit


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values` by rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class RouteStats:
    """Latencies (seconds) and errors of one route."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": len(self.latencies),
            "errors": dict(self.errors),
            "p50_ms": round(self.percentile(0.50) * 1000, 1),
            "p95_ms": round(self.percentile(0.95) * 1000, 1),
            "p99_ms": round(self.percentile(0.99) * 1000, 1),
            "max_ms": round(max(self.latencies, default=0.0) * 1000, 1),
        }


@dataclass
class LoadReport:
    """What a run saw: per-route figures, accepted job ids, WebSocket messages."""

    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    routes: dict[str, RouteStats] = field(default_factory=dict)
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (sent at, seconds)
    accepted: list[str] = field(default_factory=list)
    ws_messages: int = 0
    ws_errors: Counter[str] = field(default_factory=Counter)

    def route(self, name: str) -> RouteStats:
        return self.routes.setdefault(name, RouteStats())

    @property
    def requests(self) -> int:
        return sum(len(r.latencies) for r in self.routes.values())

    @property
    def errors(self) -> dict[str, dict[str, int]]:
        found = {name: dict(r.errors) for name, r in self.routes.items() if r.errors}
        if self.ws_errors:
            found["WS /api/v1/events"] = dict(self.ws_errors)
        return found

    @property
    def slowest(self) -> float:
        return max((max(r.latencies, default=0.0) for r in self.routes.values()), default=0.0)

    def summary(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "requests": self.requests,
            "requests_per_second": round(self.requests / self.seconds, 1) if self.seconds else 0,
            "jobs_accepted": len(self.accepted),
            "ws_messages": self.ws_messages,
            "routes": {name: r.summary() for name, r in sorted(self.routes.items())},
            "errors": self.errors,
        }


class UnexpectedAnswer(Exception):
    """The server answered, but not what the route promises."""


@dataclass
class MixedLoad:
    """`clients` concurrent HTTP clients and `subscribers` WebSocket readers for `seconds`.

    `rate` (requests/s over all clients) paces the clients; None sends as fast as
    answers come back. `weights` sets how often each action is picked.
    """

    base_url: str
    clients: int = 256
    seconds: float = 30.0
    subscribers: int = 8
    rate: float | None = None
    request_timeout: float = 60.0
    seed: int = 9
    weights: dict[str, int] = field(
        default_factory=lambda: {
            "submit": 20,
            "submit_batch": 4,
            "get_job": 30,
            "list_jobs": 10,
            "infer": 25,
            "infer_lstm": 5,
        }
    )
    report: LoadReport = field(default_factory=LoadReport)
    # one TLS context for every client: httpx makes one per client otherwise (~30 ms each)
    _tls: ssl.SSLContext = field(default_factory=ssl.create_default_context, repr=False)

    async def run(self) -> LoadReport:
        """Run the load; returns its report (also kept in `self.report`)."""
        self.report.started = time.monotonic()
        stop_at = self.report.started + self.seconds
        subscribers = [
            asyncio.create_task(self._subscribe(stop_at)) for _ in range(self.subscribers)
        ]
        await asyncio.gather(*(self._client(i, stop_at) for i in range(self.clients)))
        self.report.seconds = time.monotonic() - self.report.started
        await asyncio.gather(*subscribers)
        return self.report

    async def _client(self, index: int, stop_at: float) -> None:
        """One client: its own connection (as separate users have), kept alive."""
        async with httpx.AsyncClient(
            base_url=self.base_url,
            limits=httpx.Limits(max_connections=1),
            timeout=httpx.Timeout(self.request_timeout),
            verify=self._tls,
        ) as client:
            await self._loop(client, index, stop_at)

    async def _loop(self, client: httpx.AsyncClient, index: int, stop_at: float) -> None:
        rng = random.Random(self.seed * 100_003 + index)
        actions = list(self.weights)
        weights = [self.weights[a] for a in actions]
        interval = self.clients / self.rate if self.rate else 0.0
        next_send = time.monotonic() + rng.uniform(0, interval)
        while time.monotonic() < stop_at:
            if interval:
                await asyncio.sleep(max(0.0, next_send - time.monotonic()))  # pacing, not waiting
                next_send += interval
            action = rng.choices(actions, weights)[0]
            name, call = self._action(action, client, rng)
            await self._timed(name, call)

    def _action(
        self, action: str, client: httpx.AsyncClient, rng: random.Random
    ) -> tuple[str, Callable[[], Awaitable[None]]]:
        accepted = self.report.accepted
        if action == "get_job" and accepted:
            job_id = accepted[rng.randrange(len(accepted))]
            return "GET /api/v1/jobs/{id}", lambda: _get_job(client, job_id)
        if action == "list_jobs":
            params = rng.choice(
                [{}, {"status": "succeeded"}, {"status": "queued"}, {"model": "moving-average"}]
            )
            return "GET /api/v1/jobs", lambda: _list_jobs(client, {"limit": 20, **params})
        if action == "submit_batch":
            return "POST /api/v1/jobs/batch", lambda: self._submit_batch(client)
        if action == "infer":
            path = "/api/v1/models/moving-average/infer"
            return f"POST {path}", lambda: _infer(client, path, MOVING_AVERAGE_INPUT)
        if action == "infer_lstm":
            path = "/api/v1/models/lstm-forecast/infer"
            return f"POST {path}", lambda: _infer(client, path, LSTM_INPUT)
        return "POST /api/v1/jobs", lambda: self._submit(client)

    async def _timed(self, name: str, call: Callable[[], Awaitable[None]]) -> None:
        stats = self.report.route(name)
        sent_at = time.monotonic() - self.report.started
        started = time.perf_counter()
        try:
            await call()
        except UnexpectedAnswer as exc:
            stats.errors[str(exc)] += 1
        except (httpx.HTTPError, ValueError) as exc:
            stats.errors[type(exc).__name__] += 1
        latency = time.perf_counter() - started
        stats.latencies.append(latency)
        self.report.timeline.append((sent_at, latency))

    async def _submit(self, client: httpx.AsyncClient) -> None:
        body = {"model": "moving-average", "input": MOVING_AVERAGE_INPUT}
        job = _expect(await client.post("/api/v1/jobs", json=body), 202)
        self.report.accepted.append(job["id"])

    async def _submit_batch(self, client: httpx.AsyncClient) -> None:
        body = {"jobs": [{"model": "moving-average", "input": MOVING_AVERAGE_INPUT}] * BATCH_SIZE}
        answer = _expect(await client.post("/api/v1/jobs/batch", json=body), 202)
        self.report.accepted.extend(job["id"] for job in answer["jobs"])

    async def _subscribe(self, stop_at: float) -> None:
        url = self.base_url.replace("http", "ws", 1) + "/api/v1/events?model=moving-average"
        # No client keepalive: a subscriber of every event reads hundreds a second in a
        # load generator that shares the CPU, and its pings' answers queue behind that
        # backlog; the server's own keepalive still watches the connection.
        try:
            async with connect(
                url, open_timeout=self.request_timeout, ping_interval=None
            ) as socket:
                while (remaining := stop_at - time.monotonic()) > 0:
                    try:
                        message = await asyncio.wait_for(socket.recv(), remaining)
                    except TimeoutError:
                        break
                    if not json.loads(message)["type"].startswith("job."):
                        self.report.ws_errors["unexpected message"] += 1
                    self.report.ws_messages += 1
        except (OSError, WebSocketException) as exc:
            self.report.ws_errors[f"{type(exc).__name__}: {exc}"[:160]] += 1


def _expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise UnexpectedAnswer(f"HTTP {response.status_code}: {response.text[:120]}")
    return response.json()


async def _get_job(client: httpx.AsyncClient, job_id: str) -> None:
    job = _expect(await client.get(f"/api/v1/jobs/{job_id}"), 200)
    if job["id"] != job_id:
        raise UnexpectedAnswer("another job's body")


async def _list_jobs(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    jobs = _expect(await client.get("/api/v1/jobs", params=params), 200)["jobs"]
    if "status" in params and any(j["status"] != params["status"] for j in jobs):
        raise UnexpectedAnswer("the status filter let another status through")


async def _infer(client: httpx.AsyncClient, path: str, payload: dict[str, Any]) -> None:
    if "output" not in _expect(await client.post(path, json={"input": payload}), 200):
        raise UnexpectedAnswer("no output")


async def job_statuses(client: httpx.AsyncClient, job_ids: list[str]) -> Counter[str]:
    """How many of `job_ids` are in each status ("missing" if not listed), read through
    the API in pages of every job, newest first."""
    statuses: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = _expect(await client.get("/api/v1/jobs", params=params), 200)
        statuses.update((j["id"], j["status"]) for j in page["jobs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return Counter(statuses.get(job_id, "missing") for job_id in job_ids)


async def wait_until_finished(
    client: httpx.AsyncClient, job_ids: list[str], timeout: float
) -> dict[str, int]:
    """The jobs' statuses (status -> count) once none of them is unfinished."""
    statuses: Counter[str] = await poll_until_async(
        lambda: job_statuses(client, job_ids),
        f"{len(job_ids)} jobs finished",
        timeout=timeout,
        accept=lambda found: set(found) <= FINISHED,
        interval=0.5,
    )
    return dict(statuses)
