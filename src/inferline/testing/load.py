"""Client-side helpers for distributed tests and benchmarks: submit with retries, inspect the DB."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from inferline.testing.polling import NotReady, poll_until

MOVING_AVERAGE_INPUT = {"series": [1.0, 2.0, 3.0, 4.0], "window": 2}


def submit_batch(
    client: httpx.Client, keys: list[str], *, model: str = "moving-average", timeout: float = 120.0
) -> list[str]:
    """Submit one job per idempotency key, retrying until the API accepts them all (202).

    Retrying with the same keys never creates a job twice, so a submission that
    failed for the client (database restarting, ...) is simply sent again.
    """
    body = {
        "jobs": [
            {"model": model, "input": MOVING_AVERAGE_INPUT, "idempotency_key": key} for key in keys
        ]
    }

    def submit() -> list[str]:
        response = client.post("/api/v1/jobs/batch", json=body)
        if response.status_code != 202:
            raise NotReady(f"HTTP {response.status_code}: {response.text[:200]}")
        return [job["id"] for job in response.json()["jobs"]]

    # back off 0.2 s before sending the same batch again
    return poll_until(submit, f"{len(keys)} jobs accepted", timeout=timeout, interval=0.2)


@dataclass
class EventCollector:
    """Reads the API's WebSocket event feed in a thread; remembers (job id, event type)."""

    url: str
    seen: set[tuple[str, str]] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    connected: threading.Event = field(default_factory=threading.Event)

    def start(self) -> EventCollector:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self.connected.wait(30):
            raise TimeoutError("event feed did not connect")
        return self

    def _run(self) -> None:
        from websockets.sync.client import connect

        with connect(self.url, max_size=None) as socket:
            self.connected.set()
            while not self._stop.is_set():
                try:
                    message = json.loads(socket.recv(timeout=0.2))
                except TimeoutError:
                    continue
                self.seen.add((message["job"]["id"], message["type"]))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def jobs_with(self, event_type: str) -> set[str]:
        return {job_id for job_id, kind in set(self.seen) if kind == event_type}


async def _fetch(database_url: str, query: str) -> list[Any]:
    import asyncpg

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def database_report(database_url: str) -> dict[str, Any]:
    """Counts that prove nothing was lost or duplicated (PostgreSQL)."""

    async def gather() -> dict[str, Any]:
        statuses = await _fetch(database_url, "SELECT status, count(*) FROM jobs GROUP BY status")
        missing = await _fetch(
            database_url, "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND result IS NULL"
        )
        results = await _fetch(
            database_url,
            "SELECT count(*) AS n, count(DISTINCT job_id) AS jobs FROM job_events "
            "WHERE type = 'job.succeeded'",
        )
        unpublished = await _fetch(
            database_url, "SELECT count(*) FROM job_events WHERE published_at IS NULL"
        )
        events = await _fetch(database_url, "SELECT count(*) FROM job_events")
        return {
            "statuses": {row[0]: row[1] for row in statuses},
            "succeeded_without_result": missing[0][0],
            "succeeded_events": results[0]["n"],
            "jobs_with_succeeded_event": results[0]["jobs"],
            "unpublished_events": unpublished[0][0],
            "events": events[0][0],
        }

    return asyncio.run(gather())


def try_database_report(database_url: str) -> dict[str, Any] | None:
    """`database_report`, or None while the database is unreachable."""
    try:
        return database_report(database_url)
    except (OSError, ConnectionError) as exc:
        del exc
        return None
    except Exception as exc:  # asyncpg's own errors while PostgreSQL restarts
        if type(exc).__module__.startswith("asyncpg"):
            return None
        raise
