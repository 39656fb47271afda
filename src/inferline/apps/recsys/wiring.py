"""Builds the recommendation app from what the composition root hands it: the store, cache
and vector index adapters (behind ports), the data plane's embeddings and the chat model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from prometheus_client import CollectorRegistry

from inferline.application.data_plane import DataPlane
from inferline.apps.recsys.metrics import RecsysMetrics
from inferline.apps.recsys.service import RecsysService
from inferline.apps.recsys.settings import RecsysSettings
from inferline.ports.cache import RankingCache
from inferline.ports.llm import ChatModel
from inferline.ports.recsys import RecsysStore
from inferline.ports.vectors import VectorIndex


@dataclass
class RecsysApp:
    """The app's part of a process: store, cache and index connected, the service on top."""

    store: RecsysStore
    cache: RankingCache
    vectors: VectorIndex
    service: RecsysService
    _started: list[str] = field(default_factory=list)

    async def start(self) -> None:
        """Each part once, so a failed start can simply be called again."""
        for name, part in (("store", self.store), ("cache", self.cache), ("vectors", self.vectors)):
            if name not in self._started:
                await part.start()
                self._started.append(name)
        if "service" not in self._started:
            await self.service.start()
            self._started.append("service")

    async def stop(self) -> None:
        for name in reversed(self._started):
            if name == "store":
                await self.store.close()
            elif name == "cache":
                await self.cache.close()
            elif name == "vectors":
                await self.vectors.close()
        self._started.clear()


def build_recsys(
    *,
    plane: DataPlane,
    store: RecsysStore,
    cache: RankingCache,
    vectors: VectorIndex,
    llm: ChatModel,
    embedding_model: str | None = None,
    settings: RecsysSettings | None = None,
    registry: CollectorRegistry | None = None,
) -> RecsysApp:
    """The app wired for one process; products and messages embed through `plane`."""

    async def embed(texts: list[str]) -> list[np.ndarray]:
        result = await plane.embed(texts, embedding_model, field="text")
        return [item.embedding for item in result.items]

    service = RecsysService(
        store,
        cache,
        vectors,
        embed,
        llm,
        settings or RecsysSettings(),
        metrics=RecsysMetrics(registry),
    )
    return RecsysApp(store, cache, vectors, service)
