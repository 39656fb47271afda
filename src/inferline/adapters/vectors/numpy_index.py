"""The embedded vector index: exact NumPy search, persisted in a folder next to the database."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from inferline.adapters.vectors.exact import ExactCollection
from inferline.adapters.vectors.storage import SPEC_FILE, CollectionFiles, encode_records
from inferline.domain.errors import Conflict, InvalidInput, NotFound
from inferline.ports.vectors import (
    CollectionSpec,
    MetadataValue,
    SearchHit,
    Vector,
    VectorRecord,
)

# A tenant's collection is `<tenant>~<name>` (application/collections.py); the default
# tenant's is `<name>`.
NAME_PATTERN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63}~)?[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
COMPACT_LOG_BYTES = 8 * 1024 * 1024


class _Stored:
    """A collection in memory, its files, and the lock that serialises access."""

    def __init__(self, collection: ExactCollection, files: CollectionFiles) -> None:
        self.collection = collection
        self.files = files
        self.lock = threading.Lock()


class NumpyVectorIndex:
    """VectorIndex adapter: one folder per collection under `root`; work runs in threads."""

    def __init__(self, root: Path, compact_log_bytes: int = COMPACT_LOG_BYTES) -> None:
        self.root = root
        self.compact_log_bytes = compact_log_bytes
        self._collections: dict[str, _Stored] = {}
        self._guard = threading.Lock()

    async def start(self) -> None:
        await asyncio.to_thread(self._load_all)

    async def close(self) -> None:
        await asyncio.to_thread(self._compact_all)

    async def create_collection(self, spec: CollectionSpec) -> bool:
        check_name(spec.name)
        return await asyncio.to_thread(self._create, spec)

    async def get_collection(self, name: str) -> CollectionSpec | None:
        stored = self._collections.get(name)
        return stored.collection.spec if stored else None

    async def list_collections(self) -> list[CollectionSpec]:
        return [self._collections[n].collection.spec for n in sorted(self._collections)]

    async def drop_collection(self, name: str) -> bool:
        return await asyncio.to_thread(self._drop, name)

    async def count(self, name: str) -> int:
        return len(self._get(name).collection)

    async def upsert(self, name: str, records: Sequence[VectorRecord]) -> None:
        await asyncio.to_thread(self._upsert, self._get(name), list(records))

    async def delete(self, name: str, ids: Sequence[str]) -> int:
        return await asyncio.to_thread(self._delete, self._get(name), list(ids))

    async def search(
        self,
        name: str,
        vector: Vector,
        k: int,
        where: Mapping[str, MetadataValue] | None = None,
    ) -> list[SearchHit]:
        stored = self._get(name)

        def run() -> list[SearchHit]:
            with stored.lock:
                return stored.collection.search(vector, k, where)

        try:
            return await asyncio.to_thread(run)
        except ValueError as exc:
            raise InvalidInput(
                str(exc), details=[{"field": "vector", "message": str(exc)}]
            ) from None

    # -- in threads ------------------------------------------------------------
    def _load_all(self) -> None:
        if not self.root.is_dir():
            return  # created with the first collection, not at every start
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or not (folder / SPEC_FILE).exists():
                continue
            files = CollectionFiles(folder)
            collection = ExactCollection(files.read_spec())
            for op, data in files.read():
                if op == "upsert":
                    collection.upsert(data)
                else:
                    collection.delete(data)
            self._collections[collection.spec.name] = _Stored(collection, files)

    def _create(self, spec: CollectionSpec) -> bool:
        with self._guard:
            existing = self._collections.get(spec.name)
            if existing is not None:
                if existing.collection.spec != spec:
                    old = existing.collection.spec
                    raise Conflict(
                        f"collection {spec.name} exists with dimension {old.dimension} and "
                        f"metric {old.metric}",
                        details={"dimension": old.dimension, "metric": old.metric},
                    )
                return False
            files = CollectionFiles(self.root / spec.name)
            files.write_spec(spec)
            self._collections[spec.name] = _Stored(ExactCollection(spec), files)
            return True

    def _drop(self, name: str) -> bool:
        with self._guard:
            stored = self._collections.pop(name, None)
            if stored is None:
                return False
            with stored.lock:
                trash = self.root / f".deleted-{name}-{uuid.uuid4().hex}"
                stored.files.folder.rename(trash)  # atomic: gone at once, even if rmtree stops
                shutil.rmtree(trash, ignore_errors=True)
            return True

    def _upsert(self, stored: _Stored, records: list[VectorRecord]) -> None:
        with stored.lock:
            scratch = ExactCollection(stored.collection.spec, capacity=1)
            try:
                scratch.upsert(records)  # validates every record before anything changes
            except ValueError as exc:
                raise InvalidInput(
                    str(exc), details=[{"field": "items", "message": str(exc)}]
                ) from None
            stored.files.append("upsert", encode_records(records))
            stored.collection.upsert(records)
            self._maybe_compact(stored)

    def _delete(self, stored: _Stored, ids: list[str]) -> int:
        with stored.lock:
            present = [i for i in dict.fromkeys(ids) if i in stored.collection]
            if present:
                stored.files.append("delete", present)
            removed = stored.collection.delete(present)
            self._maybe_compact(stored)
            return removed

    def _maybe_compact(self, stored: _Stored) -> None:
        if stored.files.log_bytes > self.compact_log_bytes:
            stored.files.write_snapshot(
                stored.collection.records(), stored.collection.spec.dimension
            )

    def _compact_all(self) -> None:
        for stored in list(self._collections.values()):
            with stored.lock:
                if stored.files.log_bytes:
                    stored.files.write_snapshot(
                        stored.collection.records(), stored.collection.spec.dimension
                    )

    def _get(self, name: str) -> _Stored:
        stored = self._collections.get(name)
        if stored is None:
            raise NotFound(f"collection {name!r} not found", details={"collection": name})
        return stored


def check_name(name: str) -> None:
    """Collection names are folder names: letters, digits, `_`, `-`, `.`; 1-64 characters."""
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit",
            details=[{"field": "name", "message": "invalid collection name"}],
        )
