"""Crash-safe files of one collection: a snapshot plus an append-only log of changes.

Every change is one JSON line in `log.jsonl`, written and fsynced before the
call returns, tagged with a sequence number. A snapshot (`snapshot.npz`: the
vectors and a JSON list of ids, metadata and texts) is written to a temporary
file and renamed over the old one; it records the last sequence number it
contains, so replay skips what it already holds. A torn last log line (a crash
mid-write) is ignored and cut off.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from inferline.ports.vectors import CollectionSpec, VectorRecord

SPEC_FILE = "collection.json"
SNAPSHOT_FILE = "snapshot.npz"
LOG_FILE = "log.jsonl"


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file in the same folder, fsync it, rename it over `path`."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CollectionFiles:
    """The folder of one collection."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seq = 0
        self.log_bytes = 0

    def write_spec(self, spec: CollectionSpec) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.folder / SPEC_FILE, json.dumps(asdict(spec)).encode())

    def read_spec(self) -> CollectionSpec:
        return CollectionSpec(**json.loads((self.folder / SPEC_FILE).read_text()))

    # -- snapshot ------------------------------------------------------------
    def write_snapshot(self, records: list[VectorRecord], dimension: int) -> None:
        """Replace the snapshot with `records` (everything up to `seq`) and empty the log."""
        vectors = (
            np.asarray([r.vector for r in records], dtype=np.float32)
            if records
            else np.zeros((0, dimension), dtype=np.float32)
        )
        items = json.dumps([[r.id, r.metadata, r.text] for r in records]).encode()
        temporary = self.folder / f".{SNAPSHOT_FILE}.tmp"
        with temporary.open("wb") as file:
            np.savez(
                file,
                vectors=vectors,
                items=np.frombuffer(items, dtype=np.uint8),
                seq=np.asarray([self.seq], dtype=np.int64),
            )
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.folder / SNAPSHOT_FILE)
        _fsync_dir(self.folder)
        with (self.folder / LOG_FILE).open("wb") as log:
            os.fsync(log.fileno())
        self.log_bytes = 0

    def read(self) -> Iterator[tuple[str, Any]]:
        """What is stored, in order: ("upsert", [records]) and ("delete", [ids]) operations."""
        snapshot_seq = 0
        path = self.folder / SNAPSHOT_FILE
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                vectors = data["vectors"]
                items = json.loads(data["items"].tobytes().decode())
                snapshot_seq = int(data["seq"][0])
            yield (
                "upsert",
                [VectorRecord(i, v, m, t) for (i, m, t), v in zip(items, vectors, strict=True)],
            )
        self.seq = snapshot_seq
        yield from self._replay(snapshot_seq)

    # -- log -----------------------------------------------------------------
    def append(self, op: str, payload: Any) -> None:
        """Durably append one change."""
        self.seq += 1
        line = json.dumps({"seq": self.seq, "op": op, "data": payload}).encode() + b"\n"
        with (self.folder / LOG_FILE).open("ab") as log:
            log.write(line)
            log.flush()
            os.fsync(log.fileno())
        self.log_bytes += len(line)

    def _replay(self, after_seq: int) -> Iterator[tuple[str, Any]]:
        path = self.folder / LOG_FILE
        if not path.exists():
            return
        raw = path.read_bytes()
        good = 0
        for line in raw.splitlines(keepends=True):
            try:
                entry = json.loads(line)
            except ValueError:
                break  # a torn write: everything after it is lost
            if not line.endswith(b"\n"):
                break
            good += len(line)
            if entry["seq"] <= after_seq:
                continue
            self.seq = entry["seq"]
            yield entry["op"], _decode(entry["op"], entry["data"])
        if good < len(raw):
            with path.open("r+b") as log:
                log.truncate(good)
                os.fsync(log.fileno())
        self.log_bytes = good


def encode_records(records: list[VectorRecord]) -> list[dict[str, Any]]:
    """Records as JSON: vectors as base64 of little-endian float32."""
    return [
        {
            "id": r.id,
            "v": base64.b64encode(np.asarray(r.vector, dtype="<f4").tobytes()).decode(),
            "m": r.metadata,
            "t": r.text,
        }
        for r in records
    ]


def _decode(op: str, data: Any) -> Any:
    if op == "delete":
        return list(data)
    return [VectorRecord(d["id"], _vector(d["v"]), d["m"], d["t"]) for d in data]


def _vector(encoded: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(encoded), dtype="<f4")
