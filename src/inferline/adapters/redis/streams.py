"""Stream routes on Redis Streams: the same routes as on Kafka, on `<prefix>:<topic>` keys.

An input entry carries the record in its `value` field (JSON) and, optionally, a
`key`. The route's consumer group (`inferline:<model>`) reads from the stream's first
entry; an entry is acknowledged (XACK) once processed. Entries that a consumer which
died had read but not acknowledged are taken over (XAUTOCLAIM) after a while. Output
records are XADDed with the same two fields, the stream capped near `max_length`.
"""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import ResponseError

from inferline.adapters.redis.connection import LazyRedis, is_missing_group
from inferline.ports.streams import OutRecord, StreamRecord

RECLAIM_EVERY_SECONDS = 10.0  # at most; more often when the idle time is shorter


def stream_key(prefix: str, topic: str) -> str:
    return f"{prefix}:{topic}"


class RedisStreamSource(LazyRedis):
    """StreamSource on one Redis Stream, as a consumer of the route's group."""

    def __init__(
        self,
        url: str,
        prefix: str,
        topic: str,
        model: str,
        *,
        name: str,
        reclaim_idle_seconds: float = 30.0,
    ) -> None:
        super().__init__(url)
        self.reclaim_idle_seconds = reclaim_idle_seconds
        self.topic = topic
        self.key = stream_key(prefix, topic)
        self.group = f"inferline:{model}"
        self.consumer = name
        self._reclaimed_at = 0.0

    async def start(self) -> None:
        await self._ensure_group()

    async def _ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, count: int, block_seconds: float) -> list[StreamRecord]:
        entries = await self._reclaim(count)
        if not entries:
            try:
                reply: Any = await self.client.xreadgroup(
                    self.group,
                    self.consumer,
                    {self.key: ">"},
                    count=count,
                    block=max(1, int(block_seconds * 1000)),
                )
            except ResponseError as exc:
                if not is_missing_group(exc):
                    raise
                await self._ensure_group()  # Redis restarted empty
                return []
            entries = [entry for _stream, found in reply or [] for entry in found]
        return [self._record(entry_id, fields) for entry_id, fields in entries if fields]

    async def _reclaim(self, count: int) -> list[tuple[str, dict[str, str]]]:
        """Entries a dead consumer of the group read and never acknowledged."""
        every = min(RECLAIM_EVERY_SECONDS, self.reclaim_idle_seconds / 2)
        if time.monotonic() - self._reclaimed_at < every:
            return []
        self._reclaimed_at = time.monotonic()
        try:
            claimed: Any = await self.client.xautoclaim(
                self.key,
                self.group,
                self.consumer,
                int(self.reclaim_idle_seconds * 1000),
                "0-0",
                count=count,
            )
        except ResponseError as exc:
            if is_missing_group(exc):
                return []
            raise
        return [(entry_id, fields) for entry_id, fields in claimed[1] if fields]

    def _record(self, entry_id: str, fields: dict[str, str]) -> StreamRecord:
        return StreamRecord(
            self.topic, 0, entry_id, fields.get("key"), fields.get("value", "").encode()
        )

    async def commit(self, records: list[StreamRecord]) -> None:
        if records:
            await self.client.xack(self.key, self.group, *(r.position for r in records))

    async def lag(self) -> dict[int, int]:
        try:
            groups: Any = await self.client.xinfo_groups(self.key)
        except ResponseError:
            return {}
        for group in groups:
            if group["name"] == self.group:
                waiting = group.get("lag")  # entries not yet read (Redis 7+)
                return {0: int(waiting or 0) + int(group["pending"])}
        return {}


class RedisStreamSink(LazyRedis):
    """StreamSink appending to Redis Streams (`<prefix>:<topic>`), capped near `max_length`."""

    def __init__(self, url: str, prefix: str, *, max_length: int = 100_000) -> None:
        super().__init__(url)
        self.prefix = prefix
        self.max_length = max_length

    async def start(self) -> None:
        await self.client.ping()

    async def send(self, records: list[OutRecord]) -> None:
        if not records:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for record in records:
                fields: dict[Any, Any] = {"value": record.value}
                if record.key is not None:
                    fields["key"] = record.key
                pipe.xadd(
                    stream_key(self.prefix, record.topic),
                    fields,
                    maxlen=self.max_length,
                    approximate=True,
                )
            await pipe.execute()
