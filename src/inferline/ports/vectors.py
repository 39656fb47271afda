"""The vector index port: named collections of vectors with metadata, searched by similarity.

Shaped so that engines with collections and payload filters fit it: the
embedded exact NumPy index, pgvector (a table per collection, `jsonb @>` for
the filter) and Milvus (a collection with a scalar filter expression).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

Metric = Literal["cosine", "dot", "l2"]
"""`cosine` and `dot`: higher is closer; `l2`: Euclidean distance, lower is closer."""

MetadataValue = str | int | float | bool | None
Vector = Sequence[float] | np.ndarray
"""A list of floats, or a 1-D NumPy array."""


@dataclass(frozen=True, slots=True)
class CollectionSpec:
    """A collection's name, vector dimension and metric."""

    name: str
    dimension: int
    metric: Metric = "cosine"


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """One item: an id unique in its collection, its vector, metadata and optional text."""

    id: str
    vector: Vector
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A found item and its score under the collection's metric."""

    id: str
    score: float
    metadata: dict[str, Any]
    text: str | None


class VectorIndex(Protocol):
    """Collections of vectors; every method may do I/O, none blocks the event loop."""

    async def start(self) -> None:
        """Open storage and load what exists."""

    async def close(self) -> None:
        """Flush and release storage."""

    async def create_collection(self, spec: CollectionSpec) -> bool:
        """Create it (True); an identical one already there is kept (False); Conflict otherwise."""
        ...

    async def get_collection(self, name: str) -> CollectionSpec | None:
        """The collection's spec, or None."""
        ...

    async def list_collections(self) -> list[CollectionSpec]:
        """Every collection, by name."""
        ...

    async def drop_collection(self, name: str) -> bool:
        """Delete the collection and its items; False when it did not exist."""
        ...

    async def count(self, name: str) -> int:
        """Items in the collection."""
        ...

    async def upsert(self, name: str, records: Sequence[VectorRecord]) -> None:
        """Insert or replace items by id, all or nothing, durably."""

    async def delete(self, name: str, ids: Sequence[str]) -> int:
        """Remove items by id; returns how many existed."""
        ...

    async def search(
        self,
        name: str,
        vector: Vector,
        k: int,
        where: Mapping[str, MetadataValue] | None = None,
    ) -> list[SearchHit]:
        """The `k` closest items whose metadata equals every `where` pair, closest first."""
        ...
