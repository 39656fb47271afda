"""Vector collection use cases: create, upsert (texts embedded by the model), search, delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from inferline.application.embeddings import EmbeddingService
from inferline.domain.errors import Conflict, InvalidInput, NotFound
from inferline.domain.jobs import DEFAULT_TENANT
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


TENANT_SEPARATOR = "~"


def stored_name(tenant: str, name: str) -> str:
    """The index's name of a tenant's collection: the default tenant's collections keep
    their own names (as before tenants); another tenant's are `<tenant>~<name>`."""
    if TENANT_SEPARATOR in name:
        raise InvalidInput(f"invalid collection name {name!r}: '~' is not allowed")
    return name if tenant == DEFAULT_TENANT else f"{tenant}{TENANT_SEPARATOR}{name}"


def _own(tenant: str, spec: CollectionSpec) -> CollectionSpec | None:
    """The spec as its tenant names it; None when it is another tenant's."""
    owner, separator, name = spec.name.rpartition(TENANT_SEPARATOR)
    owner = owner if separator else DEFAULT_TENANT
    return replace(spec, name=name) if owner == tenant else None


class CollectionService:
    """Collections of vectors, each a tenant's (another tenant's do not exist for it);
    texts go through the embedding use case (and its cache)."""

    def __init__(self, index: VectorIndex, embeddings: EmbeddingService) -> None:
        self.index = index
        self.embeddings = embeddings

    async def create(
        self, tenant: str, name: str, dimension: int | None = None, metric: Metric = "cosine"
    ) -> tuple[CollectionSpec, bool]:
        """Create a collection (dimension defaults to the embedding model's); idempotent."""
        if dimension is None:
            model_class = self.embeddings.embedding_model().model_class
            assert issubclass(model_class, TextEmbeddingModel)
            dimension = model_class.dimension
        spec = CollectionSpec(name=name, dimension=dimension, metric=metric)
        stored = replace(spec, name=stored_name(tenant, name))
        try:
            return spec, await self.index.create_collection(stored)
        except (InvalidInput, Conflict) as exc:  # named as the tenant names it
            exc.message = exc.message.replace(stored.name, name)
            exc.args = (exc.message,)
            raise

    async def describe(self, tenant: str, name: str) -> tuple[CollectionSpec, int]:
        """The collection's spec and item count."""
        spec = await self._spec(tenant, name)
        return spec, await self.index.count(stored_name(tenant, name))

    async def all(self, tenant: str) -> list[CollectionSpec]:
        """The tenant's collections, by name."""
        own = (_own(tenant, spec) for spec in await self.index.list_collections())
        return sorted((spec for spec in own if spec is not None), key=lambda s: s.name)

    async def drop(self, tenant: str, name: str) -> None:
        if not await self.index.drop_collection(stored_name(tenant, name)):
            raise NotFound(f"collection {name!r} not found", details={"collection": name})

    async def upsert(self, tenant: str, name: str, items: Sequence[NewItem]) -> int:
        """Embed the items given as text, then store them all; returns how many."""
        spec = await self._spec(tenant, name)
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
        await self.index.upsert(stored_name(tenant, name), records)
        return len(records)

    async def search(
        self,
        tenant: str,
        name: str,
        *,
        text: str | None = None,
        vector: Vector | None = None,
        k: int = 10,
        where: Mapping[str, MetadataValue] | None = None,
    ) -> list[SearchHit]:
        """The `k` nearest items to a text (embedded first) or a vector, filtered by metadata."""
        spec = await self._spec(tenant, name)
        if text is not None:
            vector = (await self.embeddings.embed([text], field="text")).items[0].embedding
        assert vector is not None
        self._check_dimension(spec, len(vector), "vector")
        return await self.index.search(stored_name(tenant, name), vector, k, where)

    async def delete_item(self, tenant: str, name: str, item_id: str) -> None:
        await self._spec(tenant, name)
        if not await self.index.delete(stored_name(tenant, name), [item_id]):
            raise NotFound(
                f"item {item_id!r} not found in collection {name!r}",
                details={"collection": name, "id": item_id},
            )

    async def _spec(self, tenant: str, name: str) -> CollectionSpec:
        spec = await self.index.get_collection(stored_name(tenant, name))
        if spec is None:
            raise NotFound(f"collection {name!r} not found", details={"collection": name})
        return replace(spec, name=name)

    @staticmethod
    def _check_dimension(spec: CollectionSpec, size: int, field_name: str) -> None:
        if size != spec.dimension:
            raise InvalidInput(
                f"{field_name}: {size} dimensions, collection {spec.name} has {spec.dimension}",
                details=[{"field": field_name, "message": f"expected {spec.dimension} values"}],
            )
