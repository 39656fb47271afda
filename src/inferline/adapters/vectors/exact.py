"""One collection held in memory as a NumPy matrix, searched exactly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inferline.ports.vectors import CollectionSpec, MetadataValue, SearchHit, Vector, VectorRecord


class ExactCollection:
    """Rows of vectors with ids, metadata and texts; deletes swap the last row in."""

    def __init__(self, spec: CollectionSpec, capacity: int = 64) -> None:
        self.spec = spec
        self.ids: list[str] = []
        self.metadata: list[dict[str, Any]] = []
        self.texts: list[str | None] = []
        self._rows: dict[str, int] = {}
        self._vectors = np.zeros((capacity, spec.dimension), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def vectors(self) -> np.ndarray:
        """The stored vectors (normalised for cosine), one row per item."""
        return self._vectors[: len(self.ids)]

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        for record in records:
            vector = self._prepare(record.vector)
            row = self._rows.get(record.id)
            if row is None:
                row = len(self.ids)
                self._grow(row + 1)
                self._rows[record.id] = row
                self.ids.append(record.id)
                self.metadata.append(dict(record.metadata))
                self.texts.append(record.text)
            else:
                self.metadata[row] = dict(record.metadata)
                self.texts[row] = record.text
            self._vectors[row] = vector

    def delete(self, ids: Sequence[str]) -> int:
        removed = 0
        for item_id in ids:
            row = self._rows.pop(item_id, None)
            if row is None:
                continue
            last = len(self.ids) - 1
            if row != last:
                self._vectors[row] = self._vectors[last]
                self.ids[row], self.metadata[row], self.texts[row] = (
                    self.ids[last],
                    self.metadata[last],
                    self.texts[last],
                )
                self._rows[self.ids[row]] = row
            self.ids.pop()
            self.metadata.pop()
            self.texts.pop()
            removed += 1
        return removed

    def search(
        self, vector: Vector, k: int, where: Mapping[str, MetadataValue] | None = None
    ) -> list[SearchHit]:
        if not self.ids or k < 1:
            return []
        query = self._prepare(vector)
        stored = self.vectors
        if self.spec.metric == "l2":
            squared = np.maximum(
                (stored * stored).sum(axis=1) - 2 * stored @ query + query @ query, 0.0
            )
            scores = np.sqrt(squared)
            order_sign = 1.0  # smaller distance first
        else:
            scores = stored @ query
            order_sign = -1.0
        candidates = np.arange(len(self.ids))
        if where:
            keep = [
                r
                for r, meta in enumerate(self.metadata)
                if all(meta.get(key, _MISSING) == value for key, value in where.items())
            ]
            candidates = np.asarray(keep, dtype=np.int64)
        if candidates.size == 0:
            return []
        ranked = order_sign * scores[candidates]
        if candidates.size > k:
            top = np.argpartition(ranked, k - 1)[:k]
            best = candidates[top[np.argsort(ranked[top], kind="stable")]]
        else:
            best = candidates[np.argsort(ranked, kind="stable")]
        return [
            SearchHit(self.ids[r], float(scores[r]), self.metadata[r], self.texts[r]) for r in best
        ]

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._rows

    def records(self) -> list[VectorRecord]:
        """Every item (vectors as stored), for snapshots."""
        return [
            VectorRecord(i, v, m, t)
            for i, v, m, t in zip(self.ids, self.vectors, self.metadata, self.texts, strict=True)
        ]

    def _prepare(self, vector: Vector) -> np.ndarray:
        array = np.asarray(vector, dtype=np.float32)
        if array.shape != (self.spec.dimension,):
            raise ValueError(
                f"vector has {array.size} values, collection needs {self.spec.dimension}"
            )
        if self.spec.metric == "cosine":
            norm = float(np.linalg.norm(array))
            if norm == 0.0:
                raise ValueError("a zero vector has no direction (metric cosine)")
            array = array / norm
        return array

    def _grow(self, needed: int) -> None:
        if needed <= self._vectors.shape[0]:
            return
        capacity = max(needed, 2 * self._vectors.shape[0])
        grown = np.zeros((capacity, self.spec.dimension), dtype=np.float32)
        grown[: len(self.ids)] = self.vectors
        self._vectors = grown


_MISSING = object()
