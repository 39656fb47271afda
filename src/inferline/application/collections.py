"""Vector collection use cases: create, upsert (texts embedded by the model), search, delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from inferline.application.embeddings import EmbeddingService
from inferline.domain.errors import InvalidInput, NotFound
from inferline.ports.embedding import TextEmbeddingModel
from inferline.ports.vectors import (
    CollectionSpec,
    MetadataValue,
    Metric,
    SearchHit,
    Vector,
    VectorIndex,
    VectorRecord,
)


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item to upsert: exactly one of `text` (embedded by the model) or `vector`."""

    id: str
    text: str | None = None
    vector: list[float] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class CollectionService:
    """Collections of vectors; texts go through the embedding use case (and its cache)."""

    def __init__(self, index: VectorIndex, embeddings: EmbeddingService) -> None:
        self.index = index
        self.embeddings = embeddings

    async def create(
        self, name: str, dimension: int | None = None, metric: Metric = "cosine"
    ) -> tuple[CollectionSpec, bool]:
        """Create a collection (dimension defaults to the embedding model's); idempotent."""
        if dimension is None:
            model_class = self.embeddings.embedding_model().model_class
            assert issubclass(model_class, TextEmbeddingModel)
            dimension = model_class.dimension
        spec = CollectionSpec(name=name, dimension=dimension, metric=metric)
        return spec, await self.index.create_collection(spec)

    async def describe(self, name: str) -> tuple[CollectionSpec, int]:
        """The collection's spec and item count."""
        return await self._spec(name), await self.index.count(name)

    async def all(self) -> list[CollectionSpec]:
        """Every collection, by name."""
        return await self.index.list_collections()

    async def drop(self, name: str) -> None:
        if not await self.index.drop_collection(name):
            raise NotFound(f"collection {name!r} not found", details={"collection": name})

    async def upsert(self, name: str, items: Sequence[NewItem]) -> int:
        """Embed the items given as text, then store them all; returns how many."""
        spec = await self._spec(name)
        texts = [(i, item.text) for i, item in enumerate(items) if item.text is not None]
        vectors: dict[int, Vector] = {}
        if texts:
            embedded = await self.embeddings.embed(
                [text for _, text in texts], field_names=[f"items.{i}.text" for i, _ in texts]
            )
            self._check_dimension(spec, embedded.dim, "items")
            vectors = {i: e.embedding for (i, _), e in zip(texts, embedded.items, strict=True)}
        records = []
        for i, item in enumerate(items):
            vector = vectors.get(i, item.vector)
            assert vector is not None
            self._check_dimension(spec, len(vector), f"items.{i}.vector")
            records.append(VectorRecord(item.id, vector, item.metadata, item.text))
        await self.index.upsert(name, records)
        return len(records)

    async def search(
        self,
        name: str,
        *,
        text: str | None = None,
        vector: Vector | None = None,
        k: int = 10,
        where: Mapping[str, MetadataValue] | None = None,
    ) -> list[SearchHit]:
        """The `k` nearest items to a text (embedded first) or a vector, filtered by metadata."""
        spec = await self._spec(name)
        if text is not None:
            vector = (await self.embeddings.embed([text], field="text")).items[0].embedding
        assert vector is not None
        self._check_dimension(spec, len(vector), "vector")
        return await self.index.search(name, vector, k, where)

    async def delete_item(self, name: str, item_id: str) -> None:
        await self._spec(name)
        if not await self.index.delete(name, [item_id]):
            raise NotFound(
                f"item {item_id!r} not found in collection {name!r}",
                details={"collection": name, "id": item_id},
            )

    async def _spec(self, name: str) -> CollectionSpec:
        spec = await self.index.get_collection(name)
        if spec is None:
            raise NotFound(f"collection {name!r} not found", details={"collection": name})
        return spec

    @staticmethod
    def _check_dimension(spec: CollectionSpec, size: int, field_name: str) -> None:
        if size != spec.dimension:
            raise InvalidInput(
                f"{field_name}: {size} dimensions, collection {spec.name} has {spec.dimension}",
                details=[{"field": field_name, "message": f"expected {spec.dimension} values"}],
            )
