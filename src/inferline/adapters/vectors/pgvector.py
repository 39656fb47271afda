"""The vector index on PostgreSQL with the pgvector extension.

One table per collection (`vec_<name>`: id, `embedding vector(<dimension>)`, metadata
as JSONB, text) with an HNSW index for the collection's metric, and the collections'
specs in `vector_collections`. Search orders by pgvector's distance operator (`<=>`
cosine, `<#>` negative inner product, `<->` Euclidean) and filters with `metadata @>`;
iterative index scans (pgvector 0.8) keep a filtered search from coming back short.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from inferline.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from inferline.ports.vectors import (
    CollectionSpec,
    MetadataValue,
    Metric,
    SearchHit,
    Vector,
    VectorRecord,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
OPERATORS: dict[Metric, tuple[str, str]] = {
    "cosine": ("<=>", "vector_cosine_ops"),
    "dot": ("<#>", "vector_ip_ops"),
    "l2": ("<->", "vector_l2_ops"),
}
MAX_DIMENSION = 2000  # HNSW indexes vectors of at most 2,000 dimensions


def table_name(collection: str) -> str:
    """A safe table name for a collection name (letters, digits, `_`; quoted anyway)."""
    return "vec_" + re.sub(r"[^a-z0-9_]", "_", collection.lower())


def vector_literal(vector: Vector, dimension: int) -> str:
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (dimension,):
        raise InvalidInput(
            f"vector has {array.size} values, collection needs {dimension}",
            details=[{"field": "vector", "message": f"needs {dimension} values"}],
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInput("vector has NaN or infinite values")
    return "[" + ",".join(repr(float(x)) for x in array) + "]"


class PgVectorIndex:
    """`VectorIndex` on PostgreSQL + pgvector (asyncpg). Needs the `vector` extension
    installed on the server; `start` creates it in the database when missing."""

    def __init__(self, url: str, *, ef_search: int = 100) -> None:
        self.url = url
        self.ef_search = ef_search
        self._engine: AsyncEngine | None = None
        self._specs: dict[str, CollectionSpec] = {}

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise Unavailable("the vector index is not connected yet", retry_after=1.0)
        return self._engine

    async def start(self) -> None:
        engine = create_async_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            await conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS vector_collections (name text PRIMARY KEY, "
                    "dimension integer NOT NULL, metric text NOT NULL)"
                )
            )
            rows = await conn.execute(
                text("SELECT name, dimension, metric FROM vector_collections")
            )
            self._specs = {r.name: CollectionSpec(r.name, r.dimension, r.metric) for r in rows}
        self._engine = engine

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def create_collection(self, spec: CollectionSpec) -> bool:
        if not NAME_PATTERN.match(spec.name):
            raise InvalidInput(f"invalid collection name {spec.name!r}")
        if not 1 <= spec.dimension <= MAX_DIMENSION:
            raise InvalidInput(f"dimension must be 1-{MAX_DIMENSION} for an HNSW index")
        operator_class = OPERATORS[spec.metric][1]
        table = table_name(spec.name)
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('vector_collections'))"))
            row = (
                await conn.execute(
                    text("SELECT dimension, metric FROM vector_collections WHERE name = :n"),
                    {"n": spec.name},
                )
            ).first()
            if row is not None:
                if (row.dimension, row.metric) != (spec.dimension, spec.metric):
                    raise Conflict(
                        f"collection {spec.name} exists with dimension {row.dimension} and "
                        f"metric {row.metric}",
                        details={"dimension": row.dimension, "metric": row.metric},
                    )
                self._specs[spec.name] = spec
                return False
            await conn.execute(
                text("INSERT INTO vector_collections VALUES (:n, :d, :m)"),
                {"n": spec.name, "d": spec.dimension, "m": spec.metric},
            )
            await conn.execute(
                text(
                    f'CREATE TABLE IF NOT EXISTS "{table}" (id text PRIMARY KEY, '
                    f"embedding vector({spec.dimension}) NOT NULL, "
                    "metadata jsonb NOT NULL DEFAULT '{}', text text)"
                )
            )
            await conn.execute(
                text(
                    f'CREATE INDEX IF NOT EXISTS "{table}_hnsw" ON "{table}" '
                    f"USING hnsw (embedding {operator_class})"
                )
            )
            await conn.execute(
                text(
                    f'CREATE INDEX IF NOT EXISTS "{table}_metadata" ON "{table}" '
                    "USING gin (metadata jsonb_path_ops)"
                )
            )
        self._specs[spec.name] = spec
        return True

    async def get_collection(self, name: str) -> CollectionSpec | None:
        return self._specs.get(name)

    async def list_collections(self) -> list[CollectionSpec]:
        return [self._specs[n] for n in sorted(self._specs)]

    async def drop_collection(self, name: str) -> bool:
        async with self.engine.begin() as conn:
            deleted = await conn.execute(
                text("DELETE FROM vector_collections WHERE name = :n"), {"n": name}
            )
            await conn.execute(text(f'DROP TABLE IF EXISTS "{table_name(name)}"'))
        self._specs.pop(name, None)
        return bool(deleted.rowcount)

    def _spec(self, name: str) -> CollectionSpec:
        spec = self._specs.get(name)
        if spec is None:
            raise NotFound(f"collection {name!r} not found", details={"collection": name})
        return spec

    async def count(self, name: str) -> int:
        self._spec(name)
        async with self.engine.connect() as conn:
            result = await conn.execute(text(f'SELECT count(*) FROM "{table_name(name)}"'))
            return int(result.scalar_one())

    async def upsert(self, name: str, records: Sequence[VectorRecord]) -> None:
        spec = self._spec(name)
        rows = [
            {
                "id": r.id,
                "v": vector_literal(r.vector, spec.dimension),
                "m": json.dumps(r.metadata),
                "t": r.text,
            }
            for r in records
        ]
        if spec.metric == "cosine" and any(
            np.linalg.norm(np.asarray(r.vector)) == 0 for r in records
        ):
            raise InvalidInput("a zero vector has no direction (metric cosine)")
        if not rows:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    f'INSERT INTO "{table_name(name)}" (id, embedding, metadata, text) '
                    "VALUES (:id, CAST(:v AS vector), CAST(:m AS jsonb), :t) "
                    "ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
                    "metadata = EXCLUDED.metadata, text = EXCLUDED.text"
                ),
                rows,
            )

    async def delete(self, name: str, ids: Sequence[str]) -> int:
        self._spec(name)
        if not ids:
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(
                text(f'DELETE FROM "{table_name(name)}" WHERE id = ANY(:ids)'),
                {"ids": list(dict.fromkeys(ids))},
            )
            return int(result.rowcount)

    async def search(
        self,
        name: str,
        vector: Vector,
        k: int,
        where: Mapping[str, MetadataValue] | None = None,
    ) -> list[SearchHit]:
        spec = self._spec(name)
        if k < 1:
            return []
        operator = OPERATORS[spec.metric][0]
        query = vector_literal(vector, spec.dimension)
        filters = "WHERE metadata @> CAST(:w AS jsonb)" if where else ""
        statement = text(
            f"SELECT id, metadata, text, embedding {operator} CAST(:q AS vector) AS distance "
            f'FROM "{table_name(name)}" {filters} ORDER BY distance LIMIT :k'
        )
        params: dict[str, Any] = {"q": query, "k": k}
        if where:
            params["w"] = json.dumps(dict(where))
        async with self.engine.begin() as conn:
            await conn.execute(text(f"SET LOCAL hnsw.ef_search = {max(self.ef_search, k)}"))
            await conn.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
            rows = list(await conn.execute(statement, params))
        hits = [
            SearchHit(r.id, _score(spec.metric, float(r.distance)), dict(r.metadata), r.text)
            for r in rows
        ]
        # relaxed order: the index may return neighbours slightly out of order
        reverse = spec.metric != "l2"
        return sorted(hits, key=lambda h: h.score, reverse=reverse)


def _score(metric: Metric, distance: float) -> float:
    if metric == "cosine":
        return 1.0 - distance
    if metric == "dot":
        return -distance
    return distance
