"""The vector index on Milvus: Milvus Lite in a local `.db` file, or a Milvus server.

One Milvus collection per collection (`id` VARCHAR primary key, `vector` FLOAT_VECTOR,
`metadata` JSON, `text` nullable VARCHAR), strong consistency so a search sees the
writes before it, and an index for the collection's metric (`COSINE`, `IP` for `dot`,
`L2`). Names are encoded under a namespace (`milvus_expressions.milvus_name`), so
several users of one Milvus (the collections API, recommendations, log incidents) keep
apart and a collection's spec is read back from Milvus itself: its dimension from the
schema, its metric from the index.

Scores follow the port: Milvus returns the similarity for `COSINE` and `IP` (kept) and
the squared distance for `L2` (its square root is returned).

Upserts: every record is checked here first (dimension, finite values, a direction for
cosine, lengths, JSON metadata), then all go in one `upsert` request. Milvus has no
transactions; what it guarantees is that it validates a request as a whole before it
writes any of it (a rejected request changes nothing), and that an accepted request is
in its write-ahead log (durable) when the call returns. A connection lost during the
call leaves its outcome unknown; upserts are idempotent, so the caller repeats it.

pymilvus is synchronous and does not promise thread safety, so every call runs in a
worker thread (`asyncio.to_thread`) under one lock: the event loop never blocks, and one
call at a time reaches the client. Indexes on the same URI in one process (collections,
recommendations, incidents) share one client and its lock: pymilvus keeps one
connection per URI, and closing one client would close it under the others.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from inferline.adapters.vectors.milvus_expressions import (
    NAMESPACE_PATTERN,
    collection_name,
    ids_expression,
    milvus_name,
    string_literal,
    where_expression,
)
from inferline.adapters.vectors.numpy_index import check_name
from inferline.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from inferline.ports.vectors import (
    CollectionSpec,
    MetadataValue,
    Metric,
    SearchHit,
    Vector,
    VectorRecord,
)

T = TypeVar("T")

METRICS: dict[Metric, str] = {"cosine": "COSINE", "dot": "IP", "l2": "L2"}
MAX_ID_BYTES = 2048
MAX_TEXT_BYTES = 65_535
MAX_METADATA_BYTES = 65_536
MAX_DIMENSION = 32_768
MAX_REQUEST_BYTES = 48 * 1024 * 1024  # under gRPC's 64 MiB message limit, with room
_OUTPUT = ["metadata", "text"]


@dataclass
class _SharedClient:
    client: MilvusClient
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


_CLIENTS: dict[tuple[str, str], _SharedClient] = {}
_CLIENTS_GUARD = threading.Lock()


def _acquire(uri: str, token: str, timeout: float) -> _SharedClient:
    """The process's client for `uri`, connected on first use."""
    with _CLIENTS_GUARD:
        shared = _CLIENTS.get((uri, token))
        if shared is None:
            shared = _SharedClient(MilvusClient(uri, token=token, timeout=timeout))
            _CLIENTS[(uri, token)] = shared
        shared.users += 1
        return shared


def _release(uri: str, token: str) -> None:
    """One user less; the last one closes the client."""
    with _CLIENTS_GUARD:
        shared = _CLIENTS.get((uri, token))
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            del _CLIENTS[(uri, token)]
            shared.client.close()


def is_local(uri: str) -> bool:
    """Milvus Lite (a file path ending in `.db`) rather than a server URI."""
    return not uri.startswith(("http://", "https://", "tcp://", "unix:"))


class MilvusVectorIndex:
    """`VectorIndex` on Milvus. `uri`: a `.db` file path (Milvus Lite, in this process) or
    a server's `http(s)://host:19530`; `token`: the server's `user:password` or API key.

    `namespace` keeps this user's collections apart in a shared Milvus; `index_type`
    defaults to exact `FLAT` in a local file and `HNSW` on a server (`ef_search` sets
    HNSW's search breadth, at least `k`)."""

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        namespace: str = "inferline",
        index_type: str | None = None,
        ef_search: int = 100,
        timeout_seconds: float = 30.0,
    ) -> None:
        if not NAMESPACE_PATTERN.match(namespace):
            raise ValueError(f"invalid Milvus namespace {namespace!r}: letters and digits only")
        if is_local(uri) and not uri.endswith(".db"):
            raise ValueError(f"a Milvus Lite file name must end in .db, got {uri!r}")
        self.uri = uri
        self.namespace = namespace
        self.index_type = index_type or ("FLAT" if is_local(uri) else "HNSW")
        self.ef_search = ef_search
        self.timeout_seconds = timeout_seconds
        self._token = token
        self._client: MilvusClient | None = None
        self._specs: dict[str, CollectionSpec] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MilvusVectorIndex({self.uri!r}, namespace={self.namespace!r})"  # no token

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        await self._in_thread(self._open, locked=False)

    async def close(self) -> None:
        if self._client is not None:
            await self._in_thread(self._close, locked=False)

    # -- collections -------------------------------------------------------------------
    async def create_collection(self, spec: CollectionSpec) -> bool:
        check_name(spec.name)
        milvus_name(self.namespace, spec.name)  # refuses names too long once encoded
        if not 1 <= spec.dimension <= MAX_DIMENSION:
            raise InvalidInput(f"dimension must be 1-{MAX_DIMENSION} for Milvus")
        return await self._run(lambda client: self._create(client, spec))

    async def get_collection(self, name: str) -> CollectionSpec | None:
        if name in self._specs:
            return self._specs[name]
        return await self._run(lambda client: self._describe(client, name))

    async def list_collections(self) -> list[CollectionSpec]:
        return await self._run(self._list)

    async def drop_collection(self, name: str) -> bool:
        return await self._run(lambda client: self._drop(client, name))

    async def count(self, name: str) -> int:
        def run(client: MilvusClient) -> int:
            target = self._target(client, name)[0]
            rows = client.query(target, filter="", output_fields=["count(*)"])
            return int(rows[0]["count(*)"])

        return await self._run(run)

    # -- items -------------------------------------------------------------------------
    async def upsert(self, name: str, records: Sequence[VectorRecord]) -> None:
        spec = await self._spec(name)
        rows = [_row(record, spec) for record in records]
        if not rows:
            return
        size = sum(spec.dimension * 4 + len(r["id"]) + len(r["text"] or "") for r in rows)
        if size > MAX_REQUEST_BYTES:
            raise InvalidInput(
                f"{len(rows)} records are about {size // 1_048_576} MiB, more than one Milvus "
                f"request carries ({MAX_REQUEST_BYTES // 1_048_576} MiB): send fewer at once",
                details=[{"field": "items", "message": "too many records in one upsert"}],
            )
        await self._run(
            lambda client: client.upsert(
                self._target(client, name)[0], rows, timeout=self.timeout_seconds
            )
        )

    async def delete(self, name: str, ids: Sequence[str]) -> int:
        unique = list(dict.fromkeys(ids))
        if not unique:
            await self._spec(name)
            return 0
        expression = ids_expression(unique)

        def run(client: MilvusClient) -> int:
            target = self._target(client, name)[0]
            present = client.query(target, filter=expression, output_fields=["id"])
            if present:
                client.delete(target, filter=ids_expression([row["id"] for row in present]))
            return len(present)

        return await self._run(run)

    async def search(
        self,
        name: str,
        vector: Vector,
        k: int,
        where: Mapping[str, MetadataValue] | None = None,
    ) -> list[SearchHit]:
        spec = await self._spec(name)
        query = _checked_vector(vector, spec, "vector")
        if k < 1:
            return []
        expression = where_expression(where)
        params: dict[str, Any] = {"metric_type": METRICS[spec.metric]}
        if self.index_type == "HNSW":
            params["params"] = {"ef": max(self.ef_search, k)}

        def run(client: MilvusClient) -> list[list[dict[str, Any]]]:
            result: list[list[dict[str, Any]]] = client.search(
                self._target(client, name)[0],
                data=[query],
                filter=expression,
                limit=k,
                output_fields=_OUTPUT,
                search_params=params,
                timeout=self.timeout_seconds,
            )
            return result

        found = await self._run(run)
        hits = [
            SearchHit(
                str(hit["id"]),
                _score(spec.metric, float(hit["distance"])),
                dict(hit["entity"].get("metadata") or {}),
                hit["entity"].get("text"),
            )
            for hit in (found[0] if found else [])
        ]
        return sorted(hits, key=lambda h: h.score, reverse=spec.metric != "l2")

    # -- in the worker thread, under the lock -------------------------------------------
    async def _run(self, call: Callable[[MilvusClient], T]) -> T:
        """`call` with the connected client, in a worker thread, under the lock."""
        return await self._in_thread(lambda: call(self._connected()))

    async def _in_thread(self, call: Callable[[], T], *, locked: bool = True) -> T:
        def run() -> T:
            try:
                if not locked:
                    return call()
                with self._lock:
                    return call()
            except MilvusException as exc:
                raise Unavailable(f"Milvus failed: {exc.message}", retry_after=1.0) from exc

        return await asyncio.to_thread(run)

    def _connected(self) -> MilvusClient:
        if self._client is None:
            raise Unavailable("the Milvus index is not started", retry_after=1.0)
        return self._client

    def _open(self) -> None:
        if self._client is not None:
            return
        if is_local(self.uri):
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        shared = _acquire(self.uri, self._token or "", self.timeout_seconds)
        self._client, self._lock = shared.client, shared.lock
        with self._lock:
            for spec in self._list(self._client):
                self._specs[spec.name] = spec

    def _close(self) -> None:
        if self._client is not None:
            self._client = None
            self._specs.clear()
            _release(self.uri, self._token or "")

    def _list(self, client: MilvusClient) -> list[CollectionSpec]:
        names = [collection_name(self.namespace, m) for m in client.list_collections()]
        found = [self._describe(client, n) for n in sorted(n for n in names if n)]
        return [spec for spec in found if spec is not None]

    def _describe(self, client: MilvusClient, name: str) -> CollectionSpec | None:
        """The spec as Milvus holds it (and the collection loaded for search), or None."""
        try:
            check_name(name)
            target = milvus_name(self.namespace, name)
        except InvalidInput:
            return None
        if not client.has_collection(target):
            self._specs.pop(name, None)
            return None
        fields = client.describe_collection(target)["fields"]
        dimension = next(int(f["params"]["dim"]) for f in fields if f["name"] == "vector")
        metric_type = client.describe_index(target, "vector")["metric_type"]
        metric = next(m for m, t in METRICS.items() if t == metric_type)
        if name not in self._specs:
            client.load_collection(target)  # a reopened collection is searchable once loaded
        spec = CollectionSpec(name, dimension, metric)
        self._specs[name] = spec
        return spec

    def _create(self, client: MilvusClient, spec: CollectionSpec) -> bool:
        existing = self._describe(client, spec.name)
        if existing is not None:
            if existing != spec:
                raise Conflict(
                    f"collection {spec.name} exists with dimension {existing.dimension} and "
                    f"metric {existing.metric}",
                    details={"dimension": existing.dimension, "metric": existing.metric},
                )
            return False
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=spec.dimension)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, nullable=True)
        index = client.prepare_index_params()
        options = {"M": 16, "efConstruction": 200} if self.index_type == "HNSW" else {}
        index.add_index(
            "vector", index_type=self.index_type, metric_type=METRICS[spec.metric], params=options
        )
        client.create_collection(
            milvus_name(self.namespace, spec.name),
            schema=schema,
            index_params=index,
            consistency_level="Strong",
        )
        client.load_collection(milvus_name(self.namespace, spec.name))
        self._specs[spec.name] = spec
        return True

    def _drop(self, client: MilvusClient, name: str) -> bool:
        self._specs.pop(name, None)
        try:
            check_name(name)
            target = milvus_name(self.namespace, name)
        except InvalidInput:
            return False
        if not client.has_collection(target):
            return False
        client.drop_collection(target)
        return True

    def _target(self, client: MilvusClient, name: str) -> tuple[str, CollectionSpec]:
        spec = self._specs.get(name) or self._describe(client, name)
        if spec is None:
            raise NotFound(f"collection {name!r} not found", details={"collection": name})
        return milvus_name(self.namespace, name), spec

    async def _spec(self, name: str) -> CollectionSpec:
        spec = self._specs.get(name)
        if spec is not None:
            return spec
        return (await self._run(lambda client: self._target(client, name)))[1]


def _checked_vector(vector: Vector, spec: CollectionSpec, field: str) -> list[float]:
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (spec.dimension,):
        raise InvalidInput(
            f"vector has {array.size} values, collection needs {spec.dimension}",
            details=[{"field": field, "message": f"needs {spec.dimension} values"}],
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInput(
            "vector has NaN or infinite values",
            details=[{"field": field, "message": "NaN or infinite values"}],
        )
    if spec.metric == "cosine" and not np.any(array):
        raise InvalidInput(
            "a zero vector has no direction (metric cosine)",
            details=[{"field": field, "message": "zero vector"}],
        )
    values: list[float] = array.tolist()
    return values


def _row(record: VectorRecord, spec: CollectionSpec) -> dict[str, Any]:
    """The record as a Milvus row, or InvalidInput naming what Milvus would refuse."""

    def refuse(message: str) -> InvalidInput:
        return InvalidInput(
            f"item {record.id[:100]!r}: {message}",
            details=[{"field": "items", "message": message}],
        )

    if not record.id or len(record.id.encode()) > MAX_ID_BYTES:
        raise refuse(f"an id needs 1-{MAX_ID_BYTES} bytes")
    string_literal(record.id)  # an id must be expressible in a delete filter
    if record.text is not None and len(record.text.encode()) > MAX_TEXT_BYTES:
        raise refuse(f"text is longer than {MAX_TEXT_BYTES} bytes")
    try:
        encoded = json.dumps(record.metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise refuse(f"metadata is not JSON: {exc}") from None
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        raise refuse(f"metadata is longer than {MAX_METADATA_BYTES} bytes as JSON")
    return {
        "id": record.id,
        "vector": _checked_vector(record.vector, spec, "items"),
        "metadata": record.metadata,
        "text": record.text,
    }


def _score(metric: Metric, distance: float) -> float:
    """Milvus's `L2` is the squared distance; the port's is the distance."""
    if metric == "l2":
        return math.sqrt(max(distance, 0.0))
    return distance
