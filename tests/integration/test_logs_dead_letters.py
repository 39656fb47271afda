"""The log ingest's tables on SQLite, PostgreSQL and MariaDB (migration 0008): dead
letters kept with their bytes (binary, cut to a bound), listed newest first with a
cursor, counted, per tenant; the embedded stream `logs.raw` written, read once, and
read again after a reader that did not commit."""

from __future__ import annotations

import pytest

from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.dead_letters import SqlDeadLetterStore
from inferline.adapters.sql.logs.stream import SqlLogStream
from inferline.domain.errors import InvalidInput
from inferline.ports.logs import DeadLetter
from inferline.ports.streams import OutRecord


def letter(n: int, tenant: str = "acme", raw: bytes | None = None) -> DeadLetter:
    data = raw if raw is not None else bytes([n % 256, 0xFF, 0x00, 0xC1])
    return DeadLetter(
        tenant=tenant,
        source="forward" if n % 2 else "http",
        tag=f"app.{n}" if n % 3 else None,
        reason=f"1 validation error for LogRecord\nservice\n  Field required #{n}",
        reason_class="missing",
        raw=data,
        raw_size=len(data) + n,
        received_at=1_764_000_000.5 + n,
    )


async def test_dead_letters_are_kept_listed_newest_first_and_counted(
    logs_database: LogsDatabase,
) -> None:
    store = SqlDeadLetterStore(logs_database)
    await store.start()
    try:
        await store.add([letter(n) for n in range(7)])
        await store.add([letter(99, tenant="other")])
        await store.add([])
        assert await store.count("acme") == 7
        assert await store.count("other") == 1
        assert await store.count("nobody") == 0
        seen: list[DeadLetter] = []
        cursor = None
        while True:
            page = await store.page("acme", limit=3, cursor=cursor)
            seen += page.letters
            cursor = page.next_cursor
            if cursor is None:
                break
        assert [s.reason[-2:] for s in seen] == [f"#{n}" for n in reversed(range(7))]
        ids = [s.id for s in seen]
        assert ids == sorted(ids, reverse=True)  # type: ignore[type-var]
        first = seen[-1]
        assert (first.source, first.tag, first.raw, first.raw_size) == (
            "http",
            None,
            bytes([0, 0xFF, 0x00, 0xC1]),
            4,
        )
        assert first.received_at == 1_764_000_000.5
        assert seen[-2].tag == "app.1" and seen[-2].source == "forward"
    finally:
        await store.close()


async def test_large_raw_bytes_and_long_reasons_fit(logs_database: LogsDatabase) -> None:
    store = SqlDeadLetterStore(logs_database)
    await store.start()
    try:
        big = bytes(range(256)) * 256  # 64 KiB of every byte value
        long = DeadLetter("acme", "http", "t" * 300, "r" * 20_000, "x" * 100, big, 10**6, 1.0)
        await store.add([long])
        (stored,) = (await store.page("acme", limit=5, cursor=None)).letters
        assert stored.raw == big and stored.raw_size == 10**6
        assert len(stored.reason) == 8000 and stored.tag == "t" * 253
    finally:
        await store.close()


async def test_a_cursor_not_given_out_is_refused(logs_database: LogsDatabase) -> None:
    store = SqlDeadLetterStore(logs_database)
    await store.start()
    try:
        with pytest.raises(InvalidInput, match="cursor"):
            await store.page("acme", limit=5, cursor="abc")
    finally:
        await store.close()


async def test_the_embedded_stream_hands_out_each_record_until_committed(
    logs_database: LogsDatabase,
) -> None:
    writer = SqlLogStream(logs_database, "logs.raw")
    await writer.start()
    try:
        await writer.send(
            [OutRecord("logs.raw", f"svc-{n % 3}", b'{"n": %d}' % n) for n in range(2500)]
        )
        await writer.send([OutRecord("other.topic", None, b"elsewhere")])
        reader = SqlLogStream(logs_database, "logs.raw")
        first = await reader.read(2000, 0.1)
        assert [r.value for r in first[:2]] == [b'{"n": 0}', b'{"n": 1}']
        assert first[0].key == "svc-0"
        rest = await reader.read(2000, 0.1)
        assert len(first) + len(rest) == 2500
        assert await reader.read(10, 0.05) == []
        await reader.commit(first)
        assert await reader.lag() == {0: 500}
        # a new reader (the one before died without committing) gets the rest again
        again = SqlLogStream(logs_database, "logs.raw")
        assert [r.value for r in await again.read(1000, 0.1)] == [r.value for r in rest]
    finally:
        await writer.close()
