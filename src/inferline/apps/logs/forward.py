"""A Fluent Forward protocol (v1) server: Fluent Bit's and Fluentd's `forward` output,
and `fluent-logger` clients, send log records to it over TCP.

Every mode of the protocol without the handshake (the default, no shared key):

- Message `[tag, time, record]` and `[tag, time, record, option]`;
- Forward `[tag, [[time, record], ...], option?]`;
- PackedForward `[tag, entries, option?]`, `entries` a bin (or str) of concatenated
  msgpack `[time, record]`; CompressedPackedForward when `option.compressed == "gzip"`.

A time is an integer or float of epoch seconds, or the EventTime extension (type 0:
big-endian uint32 seconds and uint32 nanoseconds); Fluent Bit 2's `[time, metadata]`
pair is read as its time. Each connection feeds the bytes it reads to its own streaming
unpacker, so a frame may arrive in any number of reads, and every complete frame of a
read is handed to `accept` at once. When a frame's option carries `chunk`, the server
answers `{"ack": chunk}` once `accept` has returned: the records are on the stream or
dead-lettered, so the client's at-least-once delivery holds.

A frame that is not the protocol closes its connection with a warning, after what could
be read of it was accepted or dead-lettered; a frame (or gzip content) over
`max_frame_bytes` too, so no client can exhaust the memory. The server itself carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from inferline.apps.logs.ingest import Incoming, IngestResult, Problem
from inferline.apps.logs.metrics import LogsMetrics

log = logging.getLogger(__name__)

READ_BYTES = 256 * 1024
EVENT_TIME = 0  # the msgpack extension type of Fluent's EventTime

Accept = Callable[[list[Incoming]], Awaitable[IngestResult]]
"""Validates, streams and dead-letters a batch (a `LogIngest` bound to its source)."""


class FrameError(ValueError):
    """A frame that is not the Forward protocol: its connection is closed."""


def event_time_hook(code: int, data: bytes) -> Any:
    """msgpack's ext hook: EventTime as float seconds; other extensions stay as they are."""
    if code == EVENT_TIME and len(data) == 8:
        seconds, nanoseconds = struct.unpack(">II", data)
        return seconds + nanoseconds / 1e9
    return msgpack.ExtType(code, data)


def new_unpacker(max_bytes: int) -> msgpack.Unpacker:
    """A streaming unpacker for one connection (or one packed stream). Strings that are
    not UTF-8 keep their bytes as surrogates: a str-typed packed stream can be re-encoded
    exactly, and a record with such a string is dead-lettered, not lost."""
    return msgpack.Unpacker(
        raw=False,
        ext_hook=event_time_hook,
        max_buffer_size=max_bytes,
        strict_map_key=False,
        unicode_errors="surrogateescape",
    )


@dataclass
class Frame:
    """What one frame held: its records, and the chunk id to acknowledge."""

    items: list[Incoming] = field(default_factory=list)
    chunk: Any = None


def decode_frame(frame: Any, max_bytes: int) -> Frame:
    """The records of one Forward frame; raises `FrameError` when it is not one (a
    `PackedStreamError` with the entries read before a packed stream broke off)."""
    if not isinstance(frame, list) or not 2 <= len(frame) <= 4:
        raise FrameError("a Forward frame is an array [tag, time or entries, ...] of 2-4 items")
    tag, second = frame[0], frame[1]
    if not isinstance(tag, str):
        raise FrameError(f"a Forward frame's tag is a string, not {type(tag).__name__}")
    if isinstance(second, list):
        return _with_option(frame, 2, [_entry(tag, e) for e in second])
    if isinstance(second, bytes | str):
        if len(frame) > 3:
            raise FrameError("a PackedForward frame is [tag, entries, option?]")
        option = _option(frame, 2)
        stream = second if isinstance(second, bytes) else second.encode("utf-8", "surrogateescape")
        compressed = option.get("compressed", "text")
        if compressed == "gzip":
            stream = gunzip(stream, max_bytes)
        elif compressed != "text":
            raise FrameError(f"unknown compression {compressed!r} (gzip or text)")
        return Frame(unpack_entries(tag, stream, max_bytes), option.get("chunk"))
    if len(frame) < 3:
        raise FrameError("a Message mode frame is [tag, time, record, option?]")
    return _with_option(frame, 3, [_item(tag, second, frame[2])])


def _with_option(frame: list[Any], at: int, items: list[Incoming]) -> Frame:
    if len(frame) > at + 1:
        raise FrameError(f"a Forward frame of this mode has at most {at + 1} items")
    return Frame(items, _option(frame, at).get("chunk"))


def _option(frame: list[Any], at: int) -> dict[Any, Any]:
    option = frame[at] if len(frame) > at else None
    if option is None:
        return {}
    if not isinstance(option, dict):
        raise FrameError(f"a Forward frame's option is a map, not {type(option).__name__}")
    return option


def _entry(tag: str, entry: Any) -> Incoming:
    if isinstance(entry, list) and len(entry) == 2:
        return _item(tag, entry[0], entry[1])
    problem = Problem("an entry of a Forward frame is [time, record]", "malformed_entry")
    return Incoming(entry, tag, problem=problem)


def _item(tag: str, when: Any, record: Any) -> Incoming:
    if isinstance(when, list) and len(when) == 2 and isinstance(when[1], dict):
        when = when[0]  # Fluent Bit 2: [time, metadata]
    if isinstance(when, bool) or not isinstance(when, int | float):
        problem = Problem(
            f"an event time is an integer, a float or EventTime, not {type(when).__name__}",
            "bad_event_time",
        )
        return Incoming(record, tag, problem=problem)
    return Incoming(record, tag, float(when))


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Concatenated gzip members, at most `max_bytes` of output."""
    parts: list[bytes] = []
    size = 0
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(data, max_bytes - size + 1)
        except zlib.error as exc:
            raise FrameError(f"compressed entries are not gzip: {exc}") from None
        size += len(part)
        if size > max_bytes or inflater.unconsumed_tail:
            raise FrameError(f"gzip entries over the limit of {max_bytes} bytes decompressed")
        if not inflater.eof:
            raise FrameError("gzip entries end before their stream does")
        parts.append(part)
        data = inflater.unused_data
    return b"".join(parts)


def unpack_entries(tag: str, stream: bytes, max_bytes: int) -> list[Incoming]:
    """The `[time, record]` entries of a packed stream. When the stream breaks off, the
    `PackedStreamError` has the entries before the break and the bytes from it on."""
    unpacker = new_unpacker(max(max_bytes, len(stream)))
    unpacker.feed(stream)
    items: list[Incoming] = []
    end = 0  # where the last complete entry ends
    while True:
        try:
            entry = unpacker.unpack()
        except msgpack.OutOfData:
            break
        except (ValueError, msgpack.UnpackException) as exc:
            message = f"packed entries are not msgpack ({describe(exc)})"
            raise PackedStreamError(message, items, stream[end:]) from None
        end = unpacker.tell()
        items.append(_entry(tag, entry))
    if end < len(stream):
        message = f"packed entries end inside an entry ({len(stream) - end} bytes left)"
        raise PackedStreamError(message, items, stream[end:])
    return items


def describe(exc: Exception) -> str:
    """An unpacking error in words (msgpack's own often have none)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class PackedStreamError(FrameError):
    """A packed stream that broke off: `items` were read before the break, `rest` after."""

    def __init__(self, message: str, items: list[Incoming], rest: bytes) -> None:
        super().__init__(message)
        self.items = items
        self.rest = rest


def broken(reason: str, raw: Any, tag: str | None = None) -> Incoming:
    """A dead letter for a frame (or what is left of one) that is not the protocol."""
    return Incoming(raw, tag, problem=Problem(reason, "malformed_frame"))


class ForwardServer:
    """The asyncio TCP server (see the module). `port` is the bound port once started."""

    def __init__(
        self,
        accept: Accept,
        *,
        host: str = "0.0.0.0",
        port: int = 0,
        max_frame_bytes: int = 16 * 1024 * 1024,
        metrics: LogsMetrics | None = None,
    ) -> None:
        self.accept = accept
        self.host = host
        self.port = port
        self.max_frame_bytes = max_frame_bytes
        self.metrics = metrics
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self) -> None:
        self._closing = False
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("Fluent Forward server listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        """Stop listening and end every connection (unacknowledged records are resent)."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        if self.metrics is not None:
            self.metrics.forward_connections.inc()
        try:
            await Connection(self, reader, writer, peer).run()
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # ended by close(): the connection's task ends here, not as cancelled (asyncio
            # would log a cancelled connection callback as an error)
        finally:
            self._connections.discard(task)
            if self.metrics is not None:
                self.metrics.forward_connections.dec()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def closed(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.forward_closed.labels(reason).inc()


class Connection:
    """One client's stream of frames."""

    def __init__(
        self,
        server: ForwardServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: Any,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.unpacker = new_unpacker(server.max_frame_bytes)
        self.fed = 0  # bytes fed to the unpacker
        self.framed = 0  # where the last complete frame ends

    async def run(self) -> None:
        while True:
            data = await self.reader.read(READ_BYTES)
            if not data:
                pending = self.fed - self.framed
                if pending:
                    log.warning(
                        "Forward client %s disconnected inside a frame (%d bytes unread; "
                        "unacknowledged, a client resends them)",
                        self.peer,
                        pending,
                    )
                return
            if not await self._take(data):
                return

    async def _take(self, data: bytes) -> bool:
        """Feed one read; accept its complete frames; False when the connection must end."""
        try:
            self.unpacker.feed(data)
        except msgpack.BufferFull:
            limit = self.server.max_frame_bytes
            reason = f"a Forward frame over the limit of {limit} bytes"
            await self._give_up(reason, [broken(reason, data)], "too_large")
            return False
        self.fed += len(data)
        frames: list[Any] = []
        error: str | None = None
        items: list[Incoming] = []
        while error is None:
            try:
                frames.append(self.unpacker.unpack())
            except msgpack.OutOfData:
                break
            except (ValueError, msgpack.UnpackException) as exc:
                error = f"not msgpack ({describe(exc)})"
                items.append(broken(error, data))
            else:
                self.framed = self.unpacker.tell()
        chunks: list[Any] = []
        for frame in frames:
            try:
                decoded = decode_frame(frame, self.server.max_frame_bytes)
            except PackedStreamError as exc:
                items += [*exc.items, broken(str(exc), exc.rest, frame[0])]
                error = str(exc)
                break
            except FrameError as exc:
                tag = (
                    frame[0]
                    if isinstance(frame, list) and frame and isinstance(frame[0], str)
                    else None
                )
                items.append(broken(str(exc), frame, tag))
                error = str(exc)
                break
            items += decoded.items
            if decoded.chunk is not None:
                chunks.append(decoded.chunk)
        try:
            if items:
                await self.server.accept(items)
        except Exception as exc:
            log.warning("Forward records from %s not stored (%s); closing", self.peer, exc)
            self.server.closed("failed")
            return False
        if chunks:
            self.writer.write(b"".join(msgpack.packb({"ack": chunk}) for chunk in chunks))
            await self.writer.drain()
        if error is not None:
            log.warning("malformed Forward frame from %s: %s; closing", self.peer, error)
            self.server.closed("malformed")
            return False
        return True

    async def _give_up(self, reason: str, items: list[Incoming], why: str) -> None:
        log.warning("Forward client %s: %s; closing", self.peer, reason)
        self.server.closed(why)
        with contextlib.suppress(Exception):
            await self.server.accept(items)
