"""The Fluent Forward protocol: every mode decoded (Message, Forward, PackedForward,
CompressedPackedForward), EventTime, Fluent Bit 2's [time, metadata]; malformed frames
refused with what could be read kept. Then the server on a real socket, with the real
ingest (an in-process stream sink, the SQLite dead-letter store): frames split across
reads, many connections at once, acks after the records are stored, a malformed or
oversized frame closing its connection only, and `fluent-logger` as the peer."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest
from fluent import sender as fluent_sender

from inferline.adapters.memory.streams import InProcessStreamSink
from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.logs.database import LogsDatabase
from inferline.adapters.sql.logs.dead_letters import SqlDeadLetterStore
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.apps.logs.forward import (
    ForwardServer,
    FrameError,
    PackedStreamError,
    decode_frame,
    gunzip,
    new_unpacker,
)
from inferline.apps.logs.ingest import Incoming, IngestResult, LogIngest
from inferline.testing.polling import poll_until_async
from inferline.testing.server import sqlite_url

LIMIT = 1024 * 1024
T0 = 1_764_000_000


def event_time(seconds: int, nanoseconds: int) -> msgpack.ExtType:
    return msgpack.ExtType(0, struct.pack(">II", seconds, nanoseconds))


def record(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"log": f"line {i}", "level": "info", "service": "api", **extra}


def packed(*entries: Any) -> bytes:
    return b"".join(msgpack.packb(e) for e in entries)


def roundtrip(frame: Any) -> Any:
    """The frame as the server's unpacker sees it."""
    unpacker = new_unpacker(LIMIT)
    unpacker.feed(msgpack.packb(frame))
    return next(unpacker)


# -- decoding -------------------------------------------------------------------------


def test_message_mode_with_int_float_and_event_time() -> None:
    for when, expected in (
        (T0, T0),
        (T0 + 0.25, T0 + 0.25),
        (event_time(T0, 500_000_000), T0 + 0.5),
    ):
        frame = decode_frame(roundtrip(["app.web", when, record()]), LIMIT)
        assert [(i.tag, i.fields, i.event_time) for i in frame.items] == [
            ("app.web", record(), expected)
        ]
        assert frame.chunk is None


def test_message_mode_with_an_option_carries_its_chunk() -> None:
    frame = decode_frame(roundtrip(["t", T0, record(), {"chunk": "abc=="}]), LIMIT)
    assert frame.chunk == "abc==" and len(frame.items) == 1


def test_forward_mode() -> None:
    entries = [[T0, record(0)], [event_time(T0, 1), record(1)]]
    frame = decode_frame(roundtrip(["t", entries, {"chunk": "c1", "size": 2}]), LIMIT)
    assert [i.fields["log"] for i in frame.items] == ["line 0", "line 1"]
    assert frame.items[1].event_time == pytest.approx(T0 + 1e-9)
    assert frame.chunk == "c1"


def test_packed_forward_as_bin_and_as_str() -> None:
    stream = packed([T0, record(0)], [T0 + 1, record(1)])
    as_bin = decode_frame(roundtrip(["t", stream]), LIMIT)
    assert [i.event_time for i in as_bin.items] == [T0, T0 + 1]
    # old clients put the stream in a str (msgpack's raw type): its bytes survive
    unpacker = new_unpacker(LIMIT)
    unpacker.feed(msgpack.packb(["t", stream], use_bin_type=False))
    as_str = decode_frame(next(unpacker), LIMIT)
    assert [i.fields for i in as_str.items] == [record(0), record(1)]


def test_compressed_packed_forward_of_several_gzip_members() -> None:
    first = gzip.compress(packed([T0, record(0)]))
    second = gzip.compress(packed([T0, record(1)], [T0, record(2)]))
    frame = decode_frame(
        roundtrip(["t", first + second, {"compressed": "gzip", "chunk": "z"}]), LIMIT
    )
    assert [i.fields["log"] for i in frame.items] == ["line 0", "line 1", "line 2"]
    assert frame.chunk == "z"


def test_fluent_bit_2_metadata_time() -> None:
    frame = decode_frame(roundtrip(["t", [[[event_time(T0, 0), {"m": 1}], record()]]]), LIMIT)
    assert frame.items[0].event_time == T0


def test_bad_entries_become_problems_and_the_frame_goes_on() -> None:
    frame = decode_frame(
        roundtrip(["t", [[T0, record(0)], "nonsense", ["yesterday", record(1)], [T0, record(2)]]]),
        LIMIT,
    )
    problems = [i.problem.reason_class if i.problem else None for i in frame.items]
    assert problems == [None, "malformed_entry", "bad_event_time", None]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"not": "an array"}, "array"),
        (["t"], "array"),
        ([1, T0, record()], "tag is a string"),
        (["t", T0], "Message mode"),
        (["t", T0, record(), "option"], "option is a map"),
        (["t", [], {}, "extra"], "at most 3"),
        (["t", b"\x00", {"compressed": "zstd"}], "unknown compression"),
        (["t", b"not gzip at all", {"compressed": "gzip"}], "not gzip"),
    ],
)
def test_malformed_frames_are_refused(frame: Any, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        decode_frame(roundtrip(frame), LIMIT)


def test_a_broken_packed_stream_keeps_the_entries_before_the_break() -> None:
    stream = packed([T0, record(0)], [T0, record(1)])
    with pytest.raises(PackedStreamError) as caught:
        decode_frame(roundtrip(["t", stream + b"\x92\xce"]), LIMIT)
    assert [i.fields["log"] for i in caught.value.items] == ["line 0", "line 1"]
    assert caught.value.rest == b"\x92\xce"


def test_gzip_over_the_limit_and_truncated_gzip_are_refused() -> None:
    with pytest.raises(FrameError, match="over the limit"):
        gunzip(gzip.compress(b"\x00" * 5000), 4096)
    with pytest.raises(FrameError, match="end before"):
        gunzip(gzip.compress(b"abc" * 100)[:-8], 4096)


# -- the server ---------------------------------------------------------------------


@dataclass
class Served:
    server: ForwardServer
    sink: InProcessStreamSink
    dead_letters: SqlDeadLetterStore
    ingest: LogIngest

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.sink.recent("logs.raw")]

    async def letters(self) -> list[Any]:
        return (await self.dead_letters.page("default", limit=500, cursor=None)).letters


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    database = LogsDatabase(sqlite_url(tmp_path / "logs.db"), create_engines, upgrade_to_head)
    dead_letters = SqlDeadLetterStore(database)
    await dead_letters.start()
    sink = InProcessStreamSink(keep=100_000)
    ingest = LogIngest(sink, dead_letters)

    async def accept(items: list[Incoming]) -> IngestResult:
        return await ingest.accept_incoming(items, source="forward", tenant="default")

    server = ForwardServer(accept, host="127.0.0.1", port=0, max_frame_bytes=LIMIT)
    await server.start()
    yield Served(server, sink, dead_letters, ingest)
    await server.close()
    await dead_letters.close()


async def connect(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", served.server.port)


async def read_ack(reader: asyncio.StreamReader) -> Any:
    unpacker = msgpack.Unpacker(raw=False)
    while True:
        data = await asyncio.wait_for(reader.read(1024), 10)
        assert data, "the server closed the connection without an ack"
        unpacker.feed(data)
        for answer in unpacker:
            return answer


async def test_a_frame_split_into_single_bytes_is_acked_after_it_is_stored(
    served: Served,
) -> None:
    reader, writer = await connect(served)
    frame = msgpack.packb(["app", [[T0, record(i)] for i in range(3)], {"chunk": "c-1"}])
    for byte in frame:
        writer.write(bytes([byte]))
        await writer.drain()
    assert await read_ack(reader) == {"ack": "c-1"}
    assert [r["message"] for r in served.records()] == ["line 0", "line 1", "line 2"]
    assert served.records()[0]["tag"] == "app"
    writer.close()


async def test_many_connections_at_once(served: Served) -> None:
    async def client(n: int) -> Any:
        reader, writer = await connect(served)
        entries = packed(*([event_time(T0, n), record(n)] for _ in range(50)))
        writer.write(msgpack.packb([f"c{n}", entries, {"chunk": f"k{n}"}]))
        await writer.drain()
        answer = await read_ack(reader)
        writer.close()
        return answer

    answers = await asyncio.gather(*(client(n) for n in range(20)))
    assert answers == [{"ack": f"k{n}"} for n in range(20)]
    assert len(served.records()) == 1000


async def test_invalid_records_are_dead_lettered_and_the_connection_goes_on(
    served: Served,
) -> None:
    reader, writer = await connect(served)
    bad = {"log": "no service here", "level": "info"}
    writer.write(msgpack.packb(["app", [[T0, record(1)], [T0, bad]], {"chunk": "a"}]))
    await writer.drain()
    assert await read_ack(reader) == {"ack": "a"}
    writer.write(msgpack.packb(["app", T0, record(2), {"chunk": "b"}]))
    await writer.drain()
    assert await read_ack(reader) == {"ack": "b"}
    letters = await served.letters()
    assert [(x.source, x.tag, x.reason_class) for x in letters] == [("forward", "app", "missing")]
    assert "service" in letters[0].reason
    assert msgpack.unpackb(letters[0].raw) == bad
    writer.close()


async def test_a_malformed_frame_closes_its_connection_only(served: Served) -> None:
    reader, writer = await connect(served)
    good = msgpack.packb(["app", T0, record(1), {"chunk": "g"}])
    broken = msgpack.packb(["app", packed([T0, record(2)]) + b"\xc1", {"chunk": "x"}])
    writer.write(good + broken)
    await writer.drain()
    assert await read_ack(reader) == {"ack": "g"}
    assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, no ack for "x"
    writer.close()
    assert [r["message"] for r in served.records()] == ["line 1", "line 2"]
    letters = await served.letters()
    assert [x.reason_class for x in letters] == ["malformed_frame"]
    assert letters[0].raw == b"\xc1"
    reader, writer = await connect(served)  # the server carries on
    writer.write(msgpack.packb(["app", T0, record(3), {"chunk": "n"}]))
    await writer.drain()
    assert await read_ack(reader) == {"ack": "n"}
    writer.close()


async def test_bytes_that_are_not_msgpack_are_kept_and_close_the_connection(
    served: Served,
) -> None:
    reader, writer = await connect(served)
    writer.write(b"\xc1GET / HTTP/1.1\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    letters = await served.letters()
    assert [x.reason_class for x in letters] == ["malformed_frame"]
    assert letters[0].raw.startswith(b"\xc1GET")
    writer.close()


async def test_a_frame_over_the_limit_closes_the_connection(served: Served) -> None:
    reader, writer = await connect(served)
    header = b"\x93" + msgpack.packb("app") + b"\xc6" + struct.pack(">I", 2 * LIMIT)
    writer.write(header)
    with contextlib.suppress(ConnectionError):  # the server may close while the client writes
        for _ in range(2 * LIMIT // 65536 + 2):
            writer.write(b"\x00" * 65536)
            await writer.drain()
    with contextlib.suppress(ConnectionError):
        assert await asyncio.wait_for(reader.read(), 10) == b""
    letters = await served.letters()
    assert [x.reason_class for x in letters] == ["malformed_frame"]
    assert "over the limit" in letters[0].reason
    writer.close()


async def test_fluent_logger_message_mode(served: Served) -> None:
    def send() -> None:
        logger = fluent_sender.FluentSender(
            "app", host="127.0.0.1", port=served.server.port, nanosecond_precision=True
        )
        assert logger.emit_with_time("web", T0, record(7, trace_id="t-1"))
        assert logger.emit("web", {"message": "no service"})
        logger.close()

    await asyncio.to_thread(send)
    await poll_until_async(lambda: served.records(), "the record", timeout=10)
    stored = served.records()
    assert len(stored) == 1
    assert stored[0]["tag"] == "app.web" and stored[0]["trace_id"] == "t-1"
    assert stored[0]["timestamp"].startswith("2025-11-24T")
    letters = await poll_until_async(served.letters, "the dead letter", timeout=10)
    assert letters[0].tag == "app.web" and letters[0].reason_class == "missing"


async def test_fluent_logger_many_records_at_once(served: Served) -> None:
    count = 2000

    def send() -> None:
        logger = fluent_sender.FluentSender("bulk", host="127.0.0.1", port=served.server.port)
        for i in range(count):
            assert logger.emit("x", record(i)), logger.last_error
        logger.close()

    await asyncio.to_thread(send)
    await poll_until_async(
        lambda: served.records(), f"{count} records", timeout=30, accept=lambda r: len(r) >= count
    )
    assert sorted(int(r["message"].split()[1]) for r in served.records()) == list(range(count))


async def test_a_client_that_disconnects_mid_frame_leaves_the_server_serving(
    served: Served,
) -> None:
    def send_half_then_drop() -> None:
        frame = msgpack.packb(["cut", T0, record(1)])
        with socket.create_connection(("127.0.0.1", served.server.port)) as sock:
            sock.sendall(msgpack.packb(["cut", T0, record(0)]) + frame[: len(frame) // 2])

    await asyncio.to_thread(send_half_then_drop)
    await poll_until_async(lambda: served.records(), "the whole frame", timeout=10)

    def send_again() -> None:
        logger = fluent_sender.FluentSender("after", host="127.0.0.1", port=served.server.port)
        assert logger.emit("x", record(2)), logger.last_error
        logger.close()

    await asyncio.to_thread(send_again)
    await poll_until_async(
        lambda: served.records(), "the next client", timeout=10, accept=lambda r: len(r) == 2
    )
    assert [r["message"] for r in served.records()] == ["line 0", "line 2"]
    assert await served.letters() == []


async def test_a_record_that_is_not_utf8_is_dead_lettered_with_its_bytes(served: Served) -> None:
    reader, writer = await connect(served)
    bad = {"log": b"caf\xe9 \xff", "level": "info", "service": "api"}
    writer.write(msgpack.packb(["latin1", T0, bad, {"chunk": "u"}], use_bin_type=False))
    await writer.drain()
    assert await read_ack(reader) == {"ack": "u"}
    (letter,) = await served.letters()
    assert letter.tag == "latin1" and b"caf\xe9 \xff" in letter.raw
    assert served.records() == []
    writer.close()
