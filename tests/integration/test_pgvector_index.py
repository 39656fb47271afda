"""The recommendation app on PostgreSQL with pgvector (a private PostgreSQL 18 with the
extension). The vector port's contract on every adapter is in test_vector_contract.py."""

from __future__ import annotations

import pytest

from inferline.adapters.llm.unavailable import NoChatModel
from inferline.adapters.memory.cache import MemoryCache
from inferline.adapters.sql.domain_outbox import append_domain_events
from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.adapters.sql.recsys.store import SqlRecsysStore
from inferline.adapters.vectors.pgvector import PgVectorIndex
from inferline.application.resilience import NO_RETRY, Resilience
from inferline.apps.recsys.service import ProductIn, RecsysService
from tests.support.recsys import MiniLMEmbedder, events_of


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
