"""Source S3's recommendation use cases on the embedded adapters (SQLite, in-memory cache,
NumPy index) with the real MiniLM: catalog, behaviour, preferences, caches, the hybrid
score, conversations, and what each answer says when a part is missing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from inferline.adapters.llm.openai_compatible import RemoteChatModel
from inferline.adapters.llm.unavailable import NoChatModel
from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.schema import domain_outbox
from inferline.application.resilience import NO_RETRY, Resilience
from inferline.apps.recsys import keys
from inferline.apps.recsys.service import ProductIn, RecsysService
from inferline.apps.recsys.wiring import RecsysApp
from inferline.domain.errors import NotFound, Unavailable
from inferline.testing import recsys_data
from tests.support.llm_endpoint import ScriptedEndpoint, completion, failure, serving
from tests.support.recsys import MiniLMEmbedder, embedded_app, events_of

T = "default"


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture
async def app(db_url: str, tmp_path: Path, minilm: MiniLMEmbedder) -> AsyncIterator[RecsysApp]:
    minilm.failing = None
    recsys = embedded_app(db_url, tmp_path, minilm, NoChatModel("no LLM in this test"))
    await recsys.start()
    yield recsys
    await recsys.stop()


def product(pid: str, name: str, category: str, price: float = 10.0, **extra: object) -> ProductIn:
    return ProductIn(
        pid,
        name,
        str(extra.get("description", f"{name} in {category}")),
        category,
        price,
        tuple(extra.get("tags", ())),  # type: ignore[arg-type]
    )


SHOES = [
    product("run-1", "Road running shoe", "shoes", 90, tags=("running",)),
    product("run-2", "Marathon racing trainer", "shoes", 120, tags=("running",)),
    product("hike-1", "Waterproof hiking boot", "shoes", 150, tags=("hiking",)),
    product("mug-1", "Ceramic coffee mug", "kitchen", 12, tags=("coffee",)),
    product("grind-1", "Burr coffee grinder", "kitchen", 60, tags=("coffee",)),
]


async def outbox_types(db_url: str) -> list[str]:
    writer, reader = create_engines(db_url)
    async with reader.connect() as conn:
        rows = await conn.execute(select(domain_outbox.c.type).order_by(domain_outbox.c.seq))
        found = [r.type for r in rows]
    await writer.dispose()
    await reader.dispose()
    return found


async def test_products_are_embedded_once_until_their_text_changes(
    app: RecsysApp, minilm: MiniLMEmbedder
) -> None:
    service = app.service
    minilm.calls.clear()
    first = await service.upsert_products(T, SHOES)
    assert (first["created"], first["embedded"], first["fallback"]) == (5, 5, None)
    again = await service.upsert_products(
        T, [SHOES[0], product("run-2", "Marathon racing trainer", "shoes", 99, tags=("running",))]
    )
    # the price changed, not the text: nothing embedded again
    assert (again["updated"], again["embedded"], again["unchanged_text"]) == (2, 0, 2)
    renamed = await service.upsert_products(
        T, [product("run-1", "Trail running shoe", "shoes", 90, tags=("running",))]
    )
    assert renamed["embedded"] == 1
    assert sum(minilm.calls) == 6
    stored = await service.product(T, "run-2")
    assert stored.price == 99 and stored.embedding is not None


async def test_another_tenants_product_is_not_found(app: RecsysApp) -> None:
    await app.service.upsert_products(T, SHOES[:1])
    with pytest.raises(NotFound):
        await app.service.product("other-tenant", "run-1")
    with pytest.raises(NotFound):
        await app.service.record_events(
            "other-tenant", events_of([{"user_id": "u", "type": "view", "product_id": "run-1"}])
        )


async def test_similar_products_share_their_theme_and_are_cached(app: RecsysApp) -> None:
    service = app.service
    await service.upsert_products(T, SHOES)
    answer = await service.similar(T, "mug-1", 2)
    assert answer["cached"] is False
    assert answer["similar"][0]["product"]["id"] == "grind-1"
    assert (await service.similar(T, "mug-1", 2))["cached"] is True
    # a changed text forgets the cached neighbours
    await service.upsert_products(T, [product("mug-1", "Ceramic tea cup", "kitchen", 12)])
    assert (await service.similar(T, "mug-1", 2))["cached"] is False


async def test_an_event_updates_preferences_and_the_outbox_in_one_go_and_invalidates(
    app: RecsysApp, db_url: str
) -> None:
    service = app.service
    await service.upsert_products(T, SHOES)
    await service.record_events(
        T, events_of([{"user_id": "ann", "type": "view", "product_id": "run-1"}])
    )
    first = await service.recommend(T, "ann", 3)
    assert first["cached"] is False
    assert (await service.recommend(T, "ann", 3))["cached"] is True
    await service.record_events(
        T,
        events_of(
            [
                {"user_id": "ann", "type": "order", "product_id": "run-2"},
                {"user_id": "ann", "type": "like", "product_id": "hike-1"},
            ]
        ),
    )
    assert (await service.recommend(T, "ann", 3))["cached"] is False  # invalidated
    prefs = await service.preferences(T, "ann")
    assert prefs is not None
    assert prefs["recent_items"] == ["hike-1", "run-2", "run-1"]
    assert prefs["categories"]["shoes"] > 7.5  # view 1 + order 5 + like 2, decayed a little
    assert prefs["price"]["min"] == 90 and prefs["price"]["max"] == 150
    cached = await app.cache.get_many([keys.user_preference(T, "ann")])
    assert cached[0] is not None and json.loads(cached[0]) == prefs
    assert await outbox_types(db_url) == [
        "user-preference-updated",
        "user-preference-updated",
        "order-placed",
    ]


async def test_an_unknown_product_rejects_the_whole_batch(app: RecsysApp, db_url: str) -> None:
    service = app.service
    await service.upsert_products(T, SHOES)
    with pytest.raises(NotFound, match="nope"):
        await service.record_events(
            T,
            events_of(
                [
                    {"user_id": "bo", "type": "view", "product_id": "run-1"},
                    {"user_id": "bo", "type": "view", "product_id": "nope"},
                ]
            ),
        )
    assert await service.preferences(T, "bo") is None
    assert await outbox_types(db_url) == []


async def test_a_new_user_gets_popular_items_and_the_answer_says_why(app: RecsysApp) -> None:
    service = app.service
    await service.upsert_products(T, SHOES)
    await service.record_events(
        T,
        events_of([{"user_id": f"u{i}", "type": "order", "product_id": "mug-1"} for i in range(3)]),
    )
    answer = await service.recommend(T, "newcomer", 5)
    assert answer["fallback"] == "popular"
    assert set(answer["unavailable"]) == {"content", "collaborative", "llm"}
    assert answer["items"][0]["product"]["id"] == "mug-1"


async def test_the_hybrid_score_renormalises_without_the_llm_and_gives_reasons(
    app: RecsysApp,
) -> None:
    service = app.service
    await service.upsert_products(T, SHOES)
    # others who ordered run-1 also ordered grind-1: co-occurrence
    for user in ("x", "y"):
        await service.record_events(
            T,
            events_of(
                [
                    {"user_id": user, "type": "order", "product_id": "run-1"},
                    {"user_id": user, "type": "order", "product_id": "grind-1"},
                ]
            ),
        )
    await service.record_events(
        T, events_of([{"user_id": "zed", "type": "view", "product_id": "run-1"}])
    )
    answer = await service.recommend(T, "zed", 4)
    assert answer["weights"] == {"content": 0.5, "collaborative": 0.5, "llm": 0.0}
    assert answer["unavailable"]["llm"].startswith("no LLM")
    ids = [item["product"]["id"] for item in answer["items"]]
    assert "run-1" not in ids  # already seen
    by_id = {item["product"]["id"]: item for item in answer["items"]}
    assert by_id["grind-1"]["scores"]["collaborative"] == 1.0
    assert "people who chose Road running shoe also chose this" in by_id["grind-1"]["reason"]
    assert by_id["run-2"]["scores"]["content"] == 1.0  # the nearest to a running shoe
    for item in answer["items"]:
        scores = item["scores"]
        assert item["score"] == pytest.approx(
            0.5 * scores["content"] + 0.5 * scores["collaborative"], abs=1e-5
        )
    only_shoes = await service.recommend(T, "zed", 4, "shoes")
    assert {i["product"]["category"] for i in only_shoes["items"]} == {"shoes"}


async def test_the_llm_scores_candidates_with_structured_output(
    db_url: str, tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    endpoint = ScriptedEndpoint()
    async with serving(endpoint) as url:
        llm = RemoteChatModel(url, "scorer", SecretStr("k"), max_attempts=1)
        recsys = embedded_app(db_url, tmp_path, minilm, llm)
        await recsys.start()
        try:
            service: RecsysService = recsys.service
            await service.upsert_products(T, SHOES)
            await service.record_events(
                T,
                events_of(
                    [
                        {"user_id": "jo", "type": "order", "product_id": "mug-1"},
                        {"user_id": "jo", "type": "order", "product_id": "grind-1"},
                        {"user_id": "li", "type": "view", "product_id": "mug-1"},
                    ]
                ),
            )
            endpoint.then(completion(json.dumps({"scores": [0.9], "reasons": ["fits"]})))
            answer = await service.recommend(T, "li", 2)
            assert answer["unavailable"] == {}
            assert answer["weights"] == {"content": 0.3, "collaborative": 0.3, "llm": 0.4}
            assert answer["items"][0]["scores"]["llm"] == 0.9
            assert answer["items"][0]["reason"].startswith("fits")
            sent = endpoint.requests[-1].body
            assert sent["response_format"] == {"type": "json_object"}
            assert (
                "Ceramic coffee mug" not in sent["messages"][-1]["content"]
            )  # seen: not a candidate
            # not JSON twice (the first try and the one retry): the LLM part is unavailable
            endpoint.then(completion("I like them all"), completion("still not json"))
            answer = (
                await service.recommend(T, "li", 2, llm=True)
                if False
                else await service.recommend(T, "li", 3)
            )
            assert answer["unavailable"]["llm"].startswith("the LLM's answer was not valid")
            assert answer["weights"]["llm"] == 0.0
        finally:
            await recsys.stop()
            await llm.aclose()


async def test_a_message_is_stored_with_its_embedding_learns_and_gets_a_reply_without_llm(
    app: RecsysApp, db_url: str
) -> None:
    service = app.service
    await service.upsert_products(T, SHOES)
    conversation = await service.create_conversation(T, "mia")
    answer = await service.post_message(
        T, conversation.id, "I need new running shoes under 100 dollars"
    )
    assert answer["message"]["role"] == "user"
    reply = answer["reply"]["content"]
    assert reply.startswith("The assistant's language model is not available")
    assert answer["fallbacks"]["reply"].startswith("no LLM")
    listed = [i["product"]["name"] for i in answer["recommendations"]["items"]]
    assert listed and all(name in reply for name in listed)
    assert answer["recommendations"]["items"][0]["product"]["id"] == "run-1"  # running, < 100
    prefs = await service.preferences(T, "mia")
    assert prefs is not None
    assert "shoes" in prefs["categories"] and "running" in prefs["tags"]
    assert prefs["asked_price"] == {"min": None, "max": 100.0}
    history = await service.messages(T, conversation.id, 10, None)
    assert [m.role for m in history] == ["user", "assistant"]
    assert await outbox_types(db_url) == [
        "conv-msg-created",
        "user-preference-updated",
        "conv-msg-created",
    ]
    with pytest.raises(NotFound):
        await service.messages("other-tenant", conversation.id, 10, None)


async def test_search_finds_the_users_own_messages_by_meaning(app: RecsysApp) -> None:
    service = app.service
    first = await service.create_conversation(T, "sam")
    await service.post_message(T, first.id, "Do you sell espresso machines?")
    await service.post_message(T, first.id, "I am looking for a tent for camping")
    other = await service.create_conversation(T, "kim")
    await service.post_message(T, other.id, "Any coffee makers in stock?")
    found = await service.search_messages(T, "sam", "coffee", 5)
    assert found[0]["message"]["content"] == "Do you sell espresso machines?"
    assert {r["message"]["user_id"] for r in found} == {"sam"}
    assert {r["message"]["role"] for r in found} == {"user"}


async def test_without_embeddings_products_are_stored_and_the_fallback_is_named(
    app: RecsysApp, minilm: MiniLMEmbedder
) -> None:
    minilm.failing = Unavailable("minilm is still loading", retry_after=1)
    answer = await app.service.upsert_products(T, SHOES[:2])
    assert answer["embedded"] == 0
    assert answer["fallback"].startswith("stored without new embeddings")
    minilm.failing = None
    assert (await app.service.upsert_products(T, SHOES[:2]))["embedded"] == 2


async def test_trending_is_a_sorted_set_that_events_increment(app: RecsysApp) -> None:
    service = app.service
    await service.upsert_products(T, SHOES)
    await service.record_events(
        T, events_of([{"user_id": "a", "type": "view", "product_id": "run-1"}])
    )
    first = await service.trending(T, 3)
    assert first["cached"] is False
    assert [i["product"]["id"] for i in first["items"]] == ["run-1"]
    await service.record_events(
        T,
        events_of(
            [
                {"user_id": "b", "type": "order", "product_id": "hike-1"},
                {"user_id": "c", "type": "view", "product_id": "run-1"},
            ]
        ),
    )
    second = await service.trending(T, 3)
    assert second["cached"] is True
    assert [(i["product"]["id"], i["score"]) for i in second["items"]] == [
        ("hike-1", 5.0),
        ("run-1", 2.0),
    ]
    assert await app.cache.top(keys.trending(T), 1) == [("hike-1", 5.0)]


async def test_the_hybrid_beats_popularity_on_users_with_known_tastes(app: RecsysApp) -> None:
    service = app.service
    data = recsys_data.users_with_tastes(recsys_data.catalog(per_group=8), users=48)
    await service.upsert_products(
        T,
        [
            ProductIn(
                p["id"], p["name"], p["description"], p["category"], p["price"], tuple(p["tags"])
            )
            for p in data.products
        ],
    )
    await service.record_events(T, events_of(data.events()))
    hybrid: dict[str, list[str]] = {}
    popular: dict[str, list[str]] = {}
    for user in data.users:
        answer = await service.recommend(T, user, 10, use_llm=False)
        hybrid[user] = [i["product"]["id"] for i in answer["items"]]
        seen = {e["product_id"] for e in data.history[user]}
        ranked = await service.popular_ids(T, None, 10 + len(seen))
        popular[user] = [pid for pid in ranked if pid not in seen][:10]
    hybrid_rate = recsys_data.hit_rate(hybrid, data.held_out)
    popular_rate = recsys_data.hit_rate(popular, data.held_out)
    assert hybrid_rate >= 0.6, (hybrid_rate, popular_rate)
    assert hybrid_rate > 2 * popular_rate, (hybrid_rate, popular_rate)


async def test_a_failing_llm_opens_the_breaker_and_the_reply_names_the_fallback(
    db_url: str, tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    endpoint = ScriptedEndpoint().then(*[failure(503, "overloaded") for _ in range(50)])
    async with serving(endpoint) as url:
        llm = RemoteChatModel(url, "down", SecretStr("k"), max_attempts=1)
        recsys = embedded_app(db_url, tmp_path, minilm, llm)
        policy = Resilience.standard(
            "recsys-llm", failure_threshold=3, reset_seconds=60, retry=NO_RETRY
        )
        recsys.service.llm_policy = policy
        await recsys.start()
        try:
            service = recsys.service
            await service.upsert_products(T, SHOES)
            conversation = await service.create_conversation(T, "max")
            first = await service.post_message(T, conversation.id, "coffee please")
            assert first["fallbacks"]["reply"].startswith("no LLM:")
            assert first["reply"]["content"].startswith("The assistant's language model")
            await service.post_message(T, conversation.id, "a mug?")
            called = len(endpoint.requests)
            assert called >= 3  # scores and replies failed: three failures in a row
            later = await service.post_message(T, conversation.id, "a grinder?")
            assert "CircuitOpen" in later["fallbacks"]["reply"]
            assert "CircuitOpen" in later["recommendations"]["unavailable"]["llm"]
            assert len(endpoint.requests) == called  # the open breaker spared the endpoint
        finally:
            await recsys.stop()
            await llm.aclose()
