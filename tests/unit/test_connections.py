"""Connecting to servers that come up late, and saying why a process is not ready."""

from __future__ import annotations

import pytest

from inferline.core.settings import Settings
from inferline.runtime.connections import Connections


class FlakyServer:
    """Refuses the first `failures` connections, then accepts."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def connect(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionRefusedError(111, "Connection refused")


async def test_reports_the_reason_then_connects_with_backoff() -> None:
    database, queue = FlakyServer(0), FlakyServer(3)
    connections = Connections(first_delay=0.001, max_delay=0.004)
    connections.add("database", database.connect)
    connections.add("queue", queue.connect)
    assert not await connections.connect_once()
    assert connections.problems() == [
        "queue: cannot connect (attempt 1): ConnectionRefusedError: [Errno 111] Connection refused"
    ]
    await connections.connect()
    assert connections.all_connected and connections.problems() == []
    assert (database.calls, queue.calls) == (1, 4)  # a connected server is not retried
    await connections.stop()


def test_reclaim_must_outlast_the_heartbeat() -> None:
    with pytest.raises(ValueError, match="queue_reclaim_idle_seconds"):
        Settings(queue_url="redis://h:6379/0", lease_seconds=30, queue_reclaim_idle_seconds=5)
    assert Settings(lease_seconds=30, queue_reclaim_idle_seconds=5).lease_seconds == 30  # sql://
    with pytest.raises(ValueError, match="redis_prefix"):
        Settings(redis_prefix="has space")
