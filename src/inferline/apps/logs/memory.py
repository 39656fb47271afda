"""Incident memory: resolved incidents kept as embeddings, so a new incident finds the past
ones that looked like it, and how they were resolved.

An incident is summarised as one short text (service, level, template and one sample;
`digest_text`), embedded by MiniLM through the data plane and kept in the vector
collection `log-incidents` (384 dimensions, cosine) with its resolution in the metadata.
Every tenant shares the collection and is kept apart by a `tenant` metadata filter, as
the recommendations' collections are. Only resolved incidents are remembered: a match
always comes with what fixed it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from inferline.application.data_plane import DataPlane
from inferline.application.resilience import Resilience
from inferline.domain.errors import InvalidInput
from inferline.ports.vectors import CollectionSpec, VectorIndex, VectorRecord

INCIDENTS = "log-incidents"
DIMENSION = 384
MAX_TEMPLATE_CHARS = 400
MAX_SAMPLE_CHARS = 300
MAX_RESOLUTION_CHARS = 4000
DEFAULT_MIN_SCORE = 0.6

Embed = Callable[[list[str]], Awaitable[list[np.ndarray]]]
"""Texts → unit vectors (the data plane's MiniLM embeddings, batched by its batcher)."""


@dataclass(frozen=True, slots=True)
class IncidentDigest:
    """What the analysis needs to know of an incident (a group of like errors).

    `template` is the message pattern the errors share (`<*>` where they differ);
    `samples` a few raw messages; `parameters` the values that filled the template's
    wildcards, one list per sample."""

    id: str
    tenant: str
    service: str
    level: str
    template: str
    samples: Sequence[str] = ()
    parameters: Sequence[Sequence[str]] = ()
    count: int = 1
    first_seen: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_seen: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class PastIncident:
    """A remembered incident like the one asked about, and how it was resolved."""

    id: str
    score: float
    service: str
    level: str
    template: str
    resolution: str
    resolved_at: str
    last_seen: str
    count: int

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": round(self.score, 4),
            "service": self.service,
            "level": self.level,
            "template": self.template,
            "resolution": self.resolution,
            "resolved_at": self.resolved_at,
            "last_seen": self.last_seen,
            "count": self.count,
        }


def digest_text(digest: IncidentDigest) -> str:
    """The text embedded for an incident: what failed where, and one real example."""
    text = f"{digest.service} {digest.level}: {clip(digest.template, MAX_TEMPLATE_CHARS)}"
    if digest.samples:
        text += f"\nExample: {clip(digest.samples[0], MAX_SAMPLE_CHARS)}"
    return text


def clip(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters (an ellipsis says it was cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def plane_embedder(plane: DataPlane, model: str | None = None) -> Embed:
    """Embeddings from the data plane's text model (MiniLM unless `model` names another)."""

    async def embed(texts: list[str]) -> list[np.ndarray]:
        result = await plane.embed(texts, model, field="text")
        return [np.asarray(item.embedding, dtype=np.float32) for item in result.items]

    return embed


def _index_id(tenant: str, incident_id: str) -> str:
    return f"{tenant}/{incident_id}"


class IncidentMemory:
    """Remembers resolved incidents per tenant and finds the ones like a new incident."""

    def __init__(
        self,
        vectors: VectorIndex,
        embed: Embed,
        *,
        collection: str = INCIDENTS,
        embedding_policy: Resilience | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.vectors = vectors
        self.collection = collection
        self._embed = embed
        self.clock = clock
        # the embedding back-end's breaker, bulkhead and retries (as the recommendations')
        self.embedding_policy = embedding_policy or Resilience.standard("logs-embeddings")

    async def start(self) -> None:
        """Create the collection (kept when it exists with the same spec)."""
        await self.vectors.create_collection(CollectionSpec(self.collection, DIMENSION, "cosine"))

    async def remember(self, digest: IncidentDigest, resolution: str) -> None:
        """Keep a resolved incident and its resolution; remembering it again replaces it."""
        resolution = resolution.strip()
        if not resolution:
            raise InvalidInput(
                "a resolution is needed to remember an incident",
                details=[{"field": "resolution", "message": "empty"}],
            )
        if len(resolution) > MAX_RESOLUTION_CHARS:
            raise InvalidInput(
                f"the resolution is longer than {MAX_RESOLUTION_CHARS} characters",
                details=[{"field": "resolution", "message": "too long"}],
            )
        text = digest_text(digest)
        vector = await self._vector(text)
        metadata = {
            "tenant": digest.tenant,
            "incident_id": digest.id,
            "service": digest.service,
            "level": digest.level,
            "template": clip(digest.template, MAX_TEMPLATE_CHARS),
            "resolution": resolution,
            "resolved_at": self.clock().isoformat(),
            "last_seen": digest.last_seen.isoformat(),
            "count": digest.count,
        }
        record = VectorRecord(_index_id(digest.tenant, digest.id), vector, metadata, text)
        await self.vectors.upsert(self.collection, [record])

    async def forget(self, tenant: str, incident_id: str) -> bool:
        """Drop a remembered incident (reopened, or its resolution was wrong)."""
        return await self.vectors.delete(self.collection, [_index_id(tenant, incident_id)]) > 0

    async def similar(
        self, digest: IncidentDigest, k: int = 3, min_score: float = DEFAULT_MIN_SCORE
    ) -> list[PastIncident]:
        """The tenant's `k` remembered incidents most like `digest` (cosine at least
        `min_score`), best first; never the incident itself."""
        if k < 1:
            return []
        vector = await self._vector(digest_text(digest))
        hits = await self.vectors.search(
            self.collection, vector, k + 1, where={"tenant": digest.tenant}
        )
        found = []
        for hit in hits:
            meta = hit.metadata
            if meta.get("incident_id") == digest.id or hit.score < min_score:
                continue
            found.append(
                PastIncident(
                    id=str(meta.get("incident_id", hit.id)),
                    score=hit.score,
                    service=str(meta.get("service", "")),
                    level=str(meta.get("level", "")),
                    template=str(meta.get("template", "")),
                    resolution=str(meta.get("resolution", "")),
                    resolved_at=str(meta.get("resolved_at", "")),
                    last_seen=str(meta.get("last_seen", "")),
                    count=int(meta.get("count", 0)),
                )
            )
        return found[:k]

    async def _vector(self, text: str) -> np.ndarray:
        async def call() -> list[np.ndarray]:
            return await self._embed([text])

        outcome = await self.embedding_policy.call(call)
        return outcome.value[0]
