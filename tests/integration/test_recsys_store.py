"""The recommendation tables on SQLite, PostgreSQL and MariaDB (migration 0007): upserts
that keep embeddings, behaviour recorded with preferences, popularity, co-occurrence and
domain events in one transaction (or none of it), concurrent events of one user, tenants,
conversations; and the Redis ranking cache under a test's own prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest
from sqlalchemy import func, select

from inferline.adapters.redis.cache import RedisCache
from inferline.adapters.sql.domain_outbox import append_domain_events
from inferline.adapters.sql.engine import create_engines
from inferline.adapters.sql.migrate import upgrade_to_head
from inferline.adapters.sql.recsys.store import SqlRecsysStore
from inferline.adapters.sql.schema import domain_outbox
from inferline.domain.domain_events import DomainEvent
from inferline.domain.errors import NotFound
from inferline.ports.recsys import BehaviourEvent, Conversation, Message, Preferences, Product
from inferline.testing.databases import redis_url

T = "acme"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlRecsysStore]:
    recsys = SqlRecsysStore(store_url, create_engines, upgrade_to_head, append_domain_events)
    await recsys.start()
    yield recsys
    await recsys.close()


def vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return v / np.linalg.norm(v)


def item(pid: str, category: str = "shoes", seed: int | None = 1, price: float = 10.0) -> Product:
    return Product(
        pid,
        f"name {pid}",
        "desc",
        category,
        price,
        ("a", "b"),
        f"hash-{pid}",
        embedding=None if seed is None else vector(seed),
    )


def counting(
    user: str,
    stored: Preferences | None,
    events: Sequence[BehaviourEvent],
    products: dict[str, Product],
) -> tuple[Preferences, list[DomainEvent]]:
    """A learner that counts events and lists items, and announces one event per call."""
    count = (stored or {}).get("count", 0) + len(events)
    items = [*(stored or {}).get("items", []), *(e.product_id for e in events)]
    event = DomainEvent.new("user-preference-updated", user, {"count": count}, T)
    return {"count": count, "items": items}, [event]


async def outbox_count(store: SqlRecsysStore) -> int:
    async with store.reader.connect() as conn:
        row = (await conn.execute(select(func.count()).select_from(domain_outbox))).first()
    assert row is not None
    return int(row[0])


async def test_upserts_keep_the_embedding_when_the_text_did_not_change(
    store: SqlRecsysStore,
) -> None:
    await store.upsert_products(T, [item("p1", seed=1), item("p2", seed=2)])
    await store.upsert_products(T, [item("p1", seed=None, price=99.0)])
    found = await store.products(T, ["p1", "p2", "missing"])
    assert set(found) == {"p1", "p2"}
    assert found["p1"].price == 99.0
    assert found["p1"].embedding is not None
    np.testing.assert_allclose(found["p1"].embedding, vector(1), rtol=1e-6)
    assert found["p1"].tags == ("a", "b")
    assert await store.text_hashes(T, ["p1", "p3"]) == {"p1": "hash-p1"}
    assert await store.products("other", ["p1"]) == {}
    embedded = await store.embedded_products(after=("", ""), limit=1)
    assert [(t, p.id) for t, p in embedded] == [(T, "p1")]
    assert [p.id for _, p in await store.embedded_products(after=(T, "p1"))] == ["p2"]
    assert await store.catalog_terms(T) == ({"shoes"}, {"a", "b"})


async def test_behaviour_is_one_transaction_with_preferences_popularity_and_outbox(
    store: SqlRecsysStore,
) -> None:
    await store.upsert_products(T, [item("p1"), item("p2", "bags"), item("p3")])
    events = [
        BehaviourEvent("u1", "view", "p1", 1.0, 1.0),
        BehaviourEvent("u1", "order", "p2", 2.0, 5.0),
        BehaviourEvent("u2", "view", "p1", 3.0, 1.0),
    ]
    updated = await store.record_events(T, events, counting)
    assert updated == {
        "u1": {"count": 2, "items": ["p1", "p2"]},
        "u2": {"count": 1, "items": ["p1"]},
    }
    assert await store.preferences(T, "u1") == updated["u1"]
    assert await store.preferences("other", "u1") is None
    assert await outbox_count(store) == 2
    popular = await store.popular(T, None, 10)
    assert [(p.product_id, p.score) for p in popular] == [("p2", 5.0), ("p1", 2.0)]
    assert [p.product_id for p in await store.popular(T, "shoes", 10)] == ["p1"]
    assert [p.product_id for p in await store.popular(T, None, 10, since=2.5)] == ["p1"]
    # u1 had p1, then ordered p2: they co-occur both ways
    pairs = await store.cooccurring(T, ["p1", "p2"], 10)
    assert pairs == {"p1": {"p2": 5.0}, "p2": {"p1": 5.0}}
    # an unknown product: nothing of the batch is stored
    with pytest.raises(NotFound, match="ghost"):
        await store.record_events(
            T,
            [BehaviourEvent("u1", "view", "p3", 4.0), BehaviourEvent("u1", "view", "ghost", 4.0)],
            counting,
        )
    assert await store.preferences(T, "u1") == updated["u1"]
    assert await outbox_count(store) == 2
    assert [p.product_id for p in await store.popular(T, None, 10)] == ["p2", "p1"]


async def test_concurrent_events_of_one_user_lose_no_update(store: SqlRecsysStore) -> None:
    await store.upsert_products(T, [item(f"p{i}") for i in range(8)])
    await asyncio.gather(
        *(
            store.record_events(T, [BehaviourEvent("u", "view", f"p{i}", float(i))], counting)
            for i in range(8)
        )
    )
    prefs = await store.preferences(T, "u")
    assert prefs is not None
    assert prefs["count"] == 8
    assert sorted(prefs["items"]) == [f"p{i}" for i in range(8)]


async def test_messages_with_their_embedding_and_domain_events(store: SqlRecsysStore) -> None:
    await store.create_conversation(T, Conversation("c1", "u1", "ACTIVE", 1.0))
    with pytest.raises(NotFound):
        await store.conversation("other", "c1")
    for n, role in enumerate(("user", "assistant", "user")):
        message = Message(f"m{n}", "c1", "u1", role, f"text {n}", float(n), embedding=vector(n))  # type: ignore[arg-type]
        event = DomainEvent.new("conv-msg-created", "c1", {"message_id": f"m{n}"}, T)
        await store.add_message(T, message, outbox=[event])
    assert await outbox_count(store) == 3
    page = await store.messages(T, "c1", 2)
    assert [m.id for m in page] == ["m1", "m2"]
    assert [m.id for m in await store.messages(T, "c1", 5, before_seq=page[0].seq)] == ["m0"]
    recent = await store.recent_user_messages(T, "u1", 5)
    assert [m.id for m in recent] == ["m2", "m0"]
    assert recent[0].embedding is not None
    np.testing.assert_allclose(recent[0].embedding, vector(2), rtol=1e-6)
    assert set(await store.messages_by_id(T, ["m0", "m9"])) == {"m0"}
    assert await store.messages_by_id("other", ["m0"]) == {}
    assert len(await store.embedded_messages()) == 3


@pytest.fixture
async def redis_cache(redis_prefix: str) -> AsyncIterator[RedisCache]:
    cache = RedisCache(redis_url(), prefix=f"{redis_prefix}:recsys:")
    await cache.start()
    yield cache
    await cache.close()


async def test_rankings_on_redis_are_sorted_sets_incremented_only_while_they_exist(
    redis_cache: RedisCache,
) -> None:
    key = "default:rec:trending"
    await redis_cache.increment_ranking(key, {"a": 1.0})
    assert await redis_cache.top(key, 5) is None  # nobody built it: not half-built by events
    await redis_cache.replace_ranking(key, {"a": 1.0, "b": 3.0}, ttl_seconds=60)
    await redis_cache.increment_ranking(key, {"a": 5.0, "c": 0.5})
    assert await redis_cache.top(key, 2) == [("a", 6.0), ("b", 3.0)]
    await redis_cache.set_many({"default:rec:user:u1": b"{}"}, 60)
    await redis_cache.delete_many([key, "default:rec:user:u1"])
    assert await redis_cache.top(key, 2) is None
    assert await redis_cache.get_many(["default:rec:user:u1"]) == [None]
