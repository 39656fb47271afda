"""The recommendation app on its embedded adapters (SQLite, the in-memory cache, the
NumPy vector index) with the real MiniLM, for use-case tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inferline.adapters.memory.cache import MemoryCache
from inferline.adapters.sql.domain_outbox import append_domain_events
from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.adapters.sql.recsys.store import SqlRecsysStore
from inferline.adapters.vectors.numpy_index import NumpyVectorIndex
from inferline.application.resilience import NO_RETRY, Resilience
from inferline.apps.recsys.service import RecsysService
from inferline.apps.recsys.settings import RecsysSettings
from inferline.apps.recsys.wiring import RecsysApp
from inferline.models.minilm import MiniLM
from inferline.ports.embedding import TextInput
from inferline.ports.llm import ChatModel


class MiniLMEmbedder:
    """The real MiniLM in this process, called in a thread like the batcher does."""

    def __init__(self) -> None:
        self.model = MiniLM("torch", torchscript=False)
        self.model.load()
        self.calls: list[int] = []
        self.failing: Exception | None = None

    async def __call__(self, texts: list[str]) -> list[np.ndarray]:
        if self.failing is not None:
            raise self.failing
        self.calls.append(len(texts))
        outputs = await asyncio.to_thread(
            self.model.predict_batch, [TextInput(text=t) for t in texts]
        )
        return [np.asarray(o.embedding, dtype=np.float32) for o in outputs]


def embedded_app(
    db_url: str,
    folder: Path,
    embed: MiniLMEmbedder,
    llm: ChatModel,
    settings: RecsysSettings | None = None,
) -> RecsysApp:
    store = SqlRecsysStore(db_url, create_engines, upgrade_to_head, outbox=append_domain_events)
    cache = MemoryCache(10_000)
    vectors = NumpyVectorIndex(folder / "recsys-vectors")
    quick = Resilience("test", retry=NO_RETRY)
    service = RecsysService(
        store,
        cache,
        vectors,
        embed,
        llm,
        settings or RecsysSettings(),
        embedding_policy=quick,
        llm_policy=Resilience("test-llm", retry=NO_RETRY),
    )
    return RecsysApp(store, cache, vectors, service)


def events_of(rows: Sequence[dict[str, Any]]) -> list[Any]:
    from inferline.apps.recsys.service import EventIn

    return [EventIn(r["user_id"], r["type"], r.get("product_id"), r.get("at")) for r in rows]
