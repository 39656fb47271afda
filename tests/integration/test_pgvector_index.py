"""The vector port's contract on the embedded NumPy index and on pgvector (a private
PostgreSQL 18 with the extension): collections, replace by id, filtered nearest
neighbours, deletes; and the recommendation app on PostgreSQL with pgvector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from inferline.adapters.llm.unavailable import NoChatModel
from inferline.adapters.memory.cache import MemoryCache
from inferline.adapters.sql.domain_outbox import append_domain_events
from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.adapters.sql.recsys.store import SqlRecsysStore
from inferline.adapters.vectors.numpy_index import NumpyVectorIndex
from inferline.adapters.vectors.pgvector import PgVectorIndex
from inferline.application.resilience import NO_RETRY, Resilience
from inferline.apps.recsys.service import ProductIn, RecsysService
from inferline.domain.errors import Conflict, InvalidInput, NotFound
from inferline.ports.vectors import CollectionSpec, VectorIndex, VectorRecord
from tests.support.recsys import MiniLMEmbedder, events_of


@pytest.fixture(params=["numpy", "pgvector"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    if request.param == "numpy":
        found: VectorIndex = NumpyVectorIndex(tmp_path / "vectors")
    else:
        found = PgVectorIndex(
            await request.getfixturevalue("pgvector").create_database(
                f"vec_{tmp_path.name[-20:].lower().replace('-', '_')}"
            )
        )
    await found.start()
    yield found
    await found.close()


def unit(*values: float) -> list[float]:
    v = np.zeros(8, dtype=np.float32)
    v[: len(values)] = values
    return list(v / np.linalg.norm(v))


async def test_the_vector_contract(index: VectorIndex) -> None:
    spec = CollectionSpec("items", 8, "cosine")
    assert await index.create_collection(spec) is True
    assert await index.create_collection(spec) is False
    with pytest.raises(Conflict):
        await index.create_collection(CollectionSpec("items", 4, "cosine"))
    await index.upsert(
        "items",
        [
            VectorRecord("a", unit(1, 0), {"tenant": "t1", "category": "x"}, "A"),
            VectorRecord("b", unit(1, 0.2), {"tenant": "t1", "category": "y"}),
            VectorRecord("c", unit(0, 1), {"tenant": "t2", "category": "x"}),
        ],
    )
    await index.upsert(
        "items", [VectorRecord("b", unit(1, 0.1), {"tenant": "t1", "category": "y"})]
    )
    assert await index.count("items") == 3
    hits = await index.search("items", unit(1, 0), 2)
    assert [h.id for h in hits] == ["a", "b"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].text == "A"
    assert hits[0].metadata == {"tenant": "t1", "category": "x"}
    assert [h.id for h in await index.search("items", unit(1, 0), 5, where={"tenant": "t2"})] == [
        "c"
    ]
    filtered = await index.search("items", unit(1, 0), 5, where={"tenant": "t1", "category": "y"})
    assert [h.id for h in filtered] == ["b"]
    with pytest.raises(InvalidInput):
        await index.search("items", [1.0, 2.0], 1)
    assert await index.delete("items", ["a", "zz"]) == 1
    assert await index.count("items") == 2
    with pytest.raises(NotFound):
        await index.count("nothing")
    assert await index.drop_collection("items") is True
    assert await index.get_collection("items") is None


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


async def test_recommendations_on_postgresql_with_pgvector(
    pgvector_url: str, minilm: MiniLMEmbedder
) -> None:
    store = SqlRecsysStore(pgvector_url, create_engines, upgrade_to_head, append_domain_events)
    vectors = PgVectorIndex(pgvector_url)
    service = RecsysService(
        store,
        MemoryCache(1000),
        vectors,
        minilm,
        NoChatModel("none"),
        embedding_policy=Resilience("e", retry=NO_RETRY),
    )
    await store.start()
    await vectors.start()
    await service.start()
    try:
        await service.upsert_products(
            "t",
            [
                ProductIn("mug", "Ceramic coffee mug", "", "kitchen", 9, ("coffee",)),
                ProductIn("grinder", "Burr coffee grinder", "", "kitchen", 59, ("coffee",)),
                ProductIn("boot", "Hiking boot", "", "shoes", 120, ("hiking",)),
            ],
        )
        similar = await service.similar("t", "mug", 1)
        assert [s["product"]["id"] for s in similar["similar"]] == ["grinder"]
        await service.record_events(
            "t", events_of([{"user_id": "u", "type": "order", "product_id": "mug"}])
        )
        answer = await service.recommend("t", "u", 2, use_llm=False)
        assert answer["items"][0]["product"]["id"] == "grinder"
        conversation = await service.create_conversation("t", "u")
        await service.post_message("t", conversation.id, "I want boots for the mountains")
        found = await service.search_messages("t", "u", "hiking footwear", 3)
        assert found[0]["message"]["content"] == "I want boots for the mountains"
        assert await vectors.count("recsys-messages") == 2  # the user's and the reply
    finally:
        await vectors.close()
        await store.close()
