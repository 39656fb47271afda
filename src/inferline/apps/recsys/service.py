"""Source S3's use cases: the catalog, behaviour, recommendations and conversations.

Every method takes the tenant. The database (behind `ports/recsys.py`) is the source of
truth; the vector index (`ports/vectors.py`) holds product and message embeddings for
similarity search, keyed `<tenant>/<id>` and filtered by tenant; the cache
(`ports/cache.py`'s `RankingCache`: Redis, or memory in the embedded mode) keeps what is
costly to compute under the source's keys, and behaviour invalidates it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, field_validator

from inferline.application.llm import InvalidLLMOutput, complete_json
from inferline.application.resilience import Resilience, Retry, describe, worth_retrying
from inferline.apps.recsys import keys, preferences, ranking
from inferline.apps.recsys.metrics import RecsysMetrics
from inferline.apps.recsys.settings import RecsysSettings
from inferline.domain.domain_events import DomainEvent
from inferline.domain.errors import InferlineError, InvalidInput, NotFound
from inferline.domain.ids import new_job_id
from inferline.ports.cache import RankingCache
from inferline.ports.llm import ChatMessage, ChatModel, ChatRequest, LLMUnavailable
from inferline.ports.recsys import (
    BehaviourEvent,
    Conversation,
    EventType,
    Message,
    Preferences,
    Product,
    RecsysStore,
)
from inferline.ports.vectors import CollectionSpec, VectorIndex, VectorRecord

log = logging.getLogger(__name__)

PRODUCTS = "recsys-products"
MESSAGES = "recsys-messages"
DIMENSION = 384
CONTENT_CANDIDATES = 100
HISTORY_ITEMS = 20
HISTORY_MESSAGES = 5
TERMS_TTL_SECONDS = 30.0

Embed = Callable[[list[str]], Awaitable[list[np.ndarray]]]
"""Texts → unit vectors (the DataPlane's MiniLM embeddings, batched by its batcher)."""


@dataclass(frozen=True, slots=True)
class ProductIn:
    id: str
    name: str
    description: str
    category: str
    price: float
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventIn:
    user_id: str
    type: EventType
    product_id: str | None
    at: float | None


class LLMScores(BaseModel):
    """The LLM's structured answer: one score in [0, 1] per candidate, in the order shown,
    and optionally a short reason for each (kept short: a small model writes slowly)."""

    scores: list[float] = Field(min_length=1, max_length=50)
    reasons: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("scores")
    @classmethod
    def _unit(cls, values: list[float]) -> list[float]:
        for value in values:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"every score must be between 0 and 1, got {value}")
        return values


def product_text(name: str, category: str, description: str, tags: Sequence[str]) -> str:
    """What is embedded for a product (its category too, so a move re-embeds it)."""
    text = f"{name}. {category}. {description}"
    if tags:
        text += " Tags: " + ", ".join(tags) + "."
    return text


def text_hash(item: ProductIn) -> str:
    text = product_text(item.name, item.category, item.description, item.tags)
    return hashlib.sha256(text.encode()).hexdigest()


def product_view(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "price": product.price,
        "tags": list(product.tags),
        "embedded": bool(product.text_hash),  # empty: its embedding is pending
        "updated_at": product.updated_at,
    }


def message_view(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "user_id": message.user_id,
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at,
    }


def _index_id(tenant: str, item_id: str) -> str:
    return f"{tenant}/{item_id}"


def _item_id(index_id: str) -> str:
    return index_id.split("/", 1)[1]


def _retry_llm(exc: BaseException) -> bool:
    return worth_retrying(exc) and not isinstance(exc, TimeoutError)


def _problem(exc: BaseException) -> str:
    if isinstance(exc, InferlineError):
        return f"{exc.kind.value}: {exc.message}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


class RecsysService:
    """Catalog, behaviour, recommendations and conversations of every tenant."""

    def __init__(
        self,
        store: RecsysStore,
        cache: RankingCache,
        vectors: VectorIndex,
        embed: Embed,
        llm: ChatModel,
        settings: RecsysSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        embedding_policy: Resilience | None = None,
        llm_policy: Resilience | None = None,
        metrics: RecsysMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or RecsysMetrics()
        self.cache = cache
        self.vectors = vectors
        self._embed = embed
        self.llm = llm
        self.settings = settings or RecsysSettings()
        self.clock = clock
        self._terms: dict[str, tuple[float, set[str], set[str]]] = {}
        # source S3's resilience toward its back-ends: a breaker, a bulkhead of 10,
        # 3 tries with 1-5 s backoff on errors worth retrying; the answer names a fallback
        self.embedding_policy = embedding_policy or Resilience.standard("recsys-embeddings")
        # a timed-out generation keeps the model busy: asking again only queues behind it
        self.llm_policy = llm_policy or Resilience.standard(
            "recsys-llm", retry=Retry(jitter=0.2, retry_on=_retry_llm)
        )
        self.weights = {
            "content": self.settings.content_weight,
            "collaborative": self.settings.collaborative_weight,
            "llm": self.settings.llm_weight,
        }

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Create the index's collections and bring them up to the database's embeddings
        (a crash between the commit and the index leaves the index behind)."""
        for name in (PRODUCTS, MESSAGES):
            await self.vectors.create_collection(CollectionSpec(name, DIMENSION, "cosine"))
        await self._reindex(PRODUCTS)
        await self._reindex(MESSAGES)

    async def _reindex(self, collection: str) -> None:
        records: list[VectorRecord] = []
        after = ("", "")
        while True:
            if collection == PRODUCTS:
                page = await self.store.embedded_products(after=after, limit=1000)
                for tenant, product in page:
                    records.append(self._product_record(tenant, product))
                if page:
                    after = (page[-1][0], page[-1][1].id)
            else:
                rows = await self.store.embedded_messages(after=after, limit=1000)
                for tenant, message in rows:
                    records.append(self._message_record(tenant, message))
                page = rows  # type: ignore[assignment]
                if rows:
                    after = (rows[-1][0], rows[-1][1].id)
            if len(page) < 1000:
                break
        if await self.vectors.count(collection) != len(records):
            await self.vectors.drop_collection(collection)
            await self.vectors.create_collection(CollectionSpec(collection, DIMENSION, "cosine"))
            for start in range(0, len(records), 1000):
                await self.vectors.upsert(collection, records[start : start + 1000])
            log.info("recsys: rebuilt the %s index (%d vectors)", collection, len(records))

    @staticmethod
    def _product_record(tenant: str, product: Product) -> VectorRecord:
        assert product.embedding is not None
        return VectorRecord(
            _index_id(tenant, product.id),
            product.embedding,
            {"tenant": tenant, "category": product.category},
        )

    @staticmethod
    def _message_record(tenant: str, message: Message) -> VectorRecord:
        assert message.embedding is not None
        return VectorRecord(
            _index_id(tenant, message.id),
            message.embedding,
            {"tenant": tenant, "user_id": message.user_id, "role": message.role},
        )

    async def _embed_texts(self, texts: list[str]) -> list[np.ndarray]:
        """Embeddings in batches, each under the embedding back-end's policy."""
        vectors: list[np.ndarray] = []
        batch = self.settings.embed_batch
        for start in range(0, len(texts), batch):
            chunk = texts[start : start + batch]

            def call(chunk: list[str] = chunk) -> Awaitable[list[np.ndarray]]:
                return self._embed(chunk)

            outcome = await self.embedding_policy.call(call)
            vectors.extend(outcome.value)
        return vectors

    # -- catalog -------------------------------------------------------------------------
    async def upsert_products(self, tenant: str, items: Sequence[ProductIn]) -> dict[str, Any]:
        """Store the products; embed only those whose text changed (or is new). When the
        embedding back-end fails, the products are stored without new embeddings (they
        are embedded at their next upsert) and the answer names the fallback."""
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.id in seen:
                raise InvalidInput(
                    f"product id {item.id!r} appears twice in one request",
                    details=[{"field": f"products[{index}].id", "message": "duplicate id"}],
                )
            seen.add(item.id)
        hashes = {item.id: text_hash(item) for item in items}
        stored = await self.store.text_hashes(tenant, list(hashes))
        changed = [item for item in items if stored.get(item.id) != hashes[item.id]]
        vectors: dict[str, np.ndarray] = {}
        fallback = None
        if changed:
            texts = [product_text(i.name, i.category, i.description, i.tags) for i in changed]
            try:
                embedded = await self._embed_texts(texts)
                vectors = {item.id: v for item, v in zip(changed, embedded, strict=True)}
            except InvalidInput:
                raise
            except Exception as exc:  # the embedding back-end: store now, embed later
                fallback = f"stored without new embeddings ({_problem(exc)}); upsert again"
                log.warning("recsys: product embeddings failed: %s", _problem(exc))
        products = [
            Product(
                id=item.id,
                name=item.name,
                description=item.description,
                category=item.category,
                price=item.price,
                tags=item.tags,
                text_hash=hashes[item.id] if item.id in vectors or item not in changed else "",
                embedding=vectors.get(item.id),
            )
            for item in items
        ]
        await self.store.upsert_products(tenant, products)
        if vectors:
            await self.vectors.upsert(
                PRODUCTS,
                [self._product_record(tenant, p) for p in products if p.embedding is not None],
            )
        if changed:
            await self.cache.delete_many([keys.similar(tenant, i.id) for i in changed])
            self._terms.pop(tenant, None)
        created = sum(1 for item in items if item.id not in stored)
        return {
            "created": created,
            "updated": len(items) - created,
            "embedded": len(vectors),
            "unchanged_text": len(items) - len(changed),
            "fallback": fallback,
        }

    async def product(self, tenant: str, product_id: str) -> Product:
        found = await self.store.products(tenant, [product_id])
        if product_id not in found:
            raise NotFound(f"product {product_id!r} not found", details={"product_id": product_id})
        return found[product_id]

    async def similar(self, tenant: str, product_id: str, k: int) -> dict[str, Any]:
        """The products nearest to this one (cosine of embeddings), cached per product."""
        key = keys.similar(tenant, product_id)
        (cached,) = await self.cache.get_many([key])
        self.metrics.lookup("similar", cached is not None)
        if cached is not None:
            ranked: list[list[Any]] = json.loads(cached)
            if len(ranked) >= k or len(ranked) < 50:
                return await self._similar_view(tenant, product_id, ranked[:k], cached=True)
        product = await self.product(tenant, product_id)
        if product.embedding is None:
            return {
                "product_id": product_id,
                "similar": [],
                "unavailable": "this product has no embedding yet (upsert it again)",
                "cached": False,
            }
        hits = await self.vectors.search(
            PRODUCTS, product.embedding, max(k, 50) + 1, where={"tenant": tenant}
        )
        ranked = [
            [_item_id(h.id), round(h.score, 6)] for h in hits if _item_id(h.id) != product_id
        ][: max(k, 50)]
        await self.cache.set_many(
            {key: json.dumps(ranked).encode()}, self.settings.similar_ttl_seconds
        )
        return await self._similar_view(tenant, product_id, ranked[:k], cached=False)

    async def _similar_view(
        self, tenant: str, product_id: str, ranked: list[list[Any]], *, cached: bool
    ) -> dict[str, Any]:
        found = await self.store.products(tenant, [pid for pid, _ in ranked], embeddings=False)
        return {
            "product_id": product_id,
            "similar": [
                {"product": product_view(found[pid]), "score": score}
                for pid, score in ranked
                if pid in found
            ],
            "cached": cached,
        }

    # -- behaviour -----------------------------------------------------------------------
    async def _catalog_terms(self, tenant: str) -> tuple[set[str], set[str]]:
        now = time.monotonic()
        entry = self._terms.get(tenant)
        if entry is None or entry[0] < now:
            categories, tags = await self.store.catalog_terms(tenant)
            entry = (now + TERMS_TTL_SECONDS, categories, tags)
            self._terms[tenant] = entry
        return entry[1], entry[2]

    def _learner(
        self, tenant: str, categories: set[str] | None = None, tags: set[str] | None = None
    ) -> Any:
        def learn(
            user_id: str,
            stored: Preferences | None,
            events: Sequence[BehaviourEvent],
            products: dict[str, Product],
        ) -> tuple[Preferences, list[DomainEvent]]:
            merged = preferences.merge(stored, events, products, categories, tags)
            return merged, preferences.domain_events(tenant, user_id, events, merged, products)

        return learn

    async def record_events(self, tenant: str, items: Sequence[EventIn]) -> dict[str, Any]:
        """Store the events and update each user's preferences in one transaction (with
        the domain events); then invalidate the users' cached recommendations."""
        now = self.clock()
        events = [
            BehaviourEvent(
                user_id=item.user_id,
                type=item.type,
                product_id=item.product_id,
                at=item.at if item.at is not None else now,
                weight=preferences.EVENT_WEIGHTS[item.type],
            )
            for item in items
        ]
        updated = await self.store.record_events(tenant, events, self._learner(tenant))
        await self._after_behaviour(tenant, events, updated)
        return {"accepted": len(events), "users": sorted(updated)}

    async def _after_behaviour(
        self, tenant: str, events: Sequence[BehaviourEvent], updated: dict[str, Preferences]
    ) -> None:
        stale = [keys.user_recommendations(tenant, user) for user in updated]
        if any(e.type == "order" for e in events):
            categories = {c.lower() for c in (await self._event_categories(tenant, events))}
            stale += [keys.popular(tenant, None)] + [keys.popular(tenant, c) for c in categories]
        await self.cache.delete_many(stale)
        await self.cache.set_many(
            {
                keys.user_preference(tenant, user): json.dumps(prefs).encode()
                for user, prefs in updated.items()
            },
            self.settings.preferences_ttl_seconds,
        )
        increments: dict[str, float] = {}
        for event in events:
            if event.product_id is not None:
                increments[event.product_id] = increments.get(event.product_id, 0.0) + event.weight
        await self.cache.increment_ranking(keys.trending(tenant), increments)

    async def _event_categories(self, tenant: str, events: Sequence[BehaviourEvent]) -> set[str]:
        ids = [e.product_id for e in events if e.type == "order" and e.product_id]
        return {
            p.category for p in (await self.store.products(tenant, ids, embeddings=False)).values()
        }

    async def preferences(self, tenant: str, user_id: str) -> Preferences | None:
        """The user's preferences, from `user:preference:{id}` when cached."""
        key = keys.user_preference(tenant, user_id)
        (cached,) = await self.cache.get_many([key])
        self.metrics.lookup("preference", cached is not None)
        if cached is not None:
            found: Preferences = json.loads(cached)
            return found
        stored = await self.store.preferences(tenant, user_id)
        if stored is not None:
            await self.cache.set_many(
                {key: json.dumps(stored).encode()}, self.settings.preferences_ttl_seconds
            )
        return stored

    # -- popularity ----------------------------------------------------------------------
    async def popular_ids(self, tenant: str, category: str | None, limit: int) -> list[str]:
        key = keys.popular(tenant, category.lower() if category else None)
        (cached,) = await self.cache.get_many([key])
        self.metrics.lookup("popular", cached is not None)
        if cached is not None:
            ids: list[str] = json.loads(cached)
            if len(ids) >= limit or len(ids) < 100:
                return ids[:limit]
        found = await self.store.popular(tenant, category, max(limit, 100))
        ids = [p.product_id for p in found]
        await self.cache.set_many(
            {key: json.dumps(ids).encode()}, self.settings.popular_ttl_seconds
        )
        return ids[:limit]

    async def popular(self, tenant: str, category: str | None, k: int) -> dict[str, Any]:
        ids = await self.popular_ids(tenant, category, k)
        found = await self.store.products(tenant, ids, embeddings=False)
        return {
            "category": category,
            "items": [{"product": product_view(found[i])} for i in ids if i in found],
        }

    async def trending(self, tenant: str, k: int) -> dict[str, Any]:
        """The most interacted-with products of the last window: the `rec:trending` sorted
        set, which events increment and which is rebuilt from the database when absent."""
        key = keys.trending(tenant)
        top = await self.cache.top(key, k)
        rebuilt = top is None
        self.metrics.lookup("trending", not rebuilt)
        if top is None:
            since = self.clock() - self.settings.trending_window_seconds
            found = await self.store.popular(tenant, None, 500, since=since)
            scores = {p.product_id: p.score for p in found}
            await self.cache.replace_ranking(key, scores, self.settings.trending_ttl_seconds)
            top = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        products = await self.store.products(tenant, [pid for pid, _ in top], embeddings=False)
        return {
            "window_seconds": self.settings.trending_window_seconds,
            "items": [
                {"product": product_view(products[pid]), "score": round(score, 4)}
                for pid, score in top
                if pid in products
            ],
            "cached": not rebuilt,
        }

    # -- recommendations -----------------------------------------------------------------
    async def recommend(
        self,
        tenant: str,
        user_id: str,
        k: int,
        category: str | None = None,
        *,
        use_llm: bool = True,
        conversation: list[Message] | None = None,
    ) -> dict[str, Any]:
        """The user's top `k` products by the hybrid score, cached in `rec:user:{id}` (one
        entry per k, category and LLM choice) until their next behaviour event."""
        key = keys.user_recommendations(tenant, user_id)
        variant = f"{k}|{category or ''}|{int(use_llm)}"
        entries: dict[str, Any] = {}
        if conversation is None:
            (cached,) = await self.cache.get_many([key])
            if cached is not None:
                entries = json.loads(cached)
            self.metrics.lookup("user", variant in entries)
            if variant in entries:
                return {**entries[variant], "cached": True}
        started = time.perf_counter()
        answer = await self._recommend(tenant, user_id, k, category, use_llm, conversation)
        llm = "yes" if answer["weights"].get("llm") else "no"
        self.metrics.generation_seconds.labels(llm).observe(time.perf_counter() - started)
        for part in answer["unavailable"]:
            self.metrics.fallbacks.labels(part).inc()
        if conversation is None:
            entries[variant] = answer
            await self.cache.set_many(
                {key: json.dumps(entries).encode()}, self.settings.recommendations_ttl_seconds
            )
        return {**answer, "cached": False}

    async def _recommend(
        self,
        tenant: str,
        user_id: str,
        k: int,
        category: str | None,
        use_llm: bool,
        conversation: list[Message] | None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        prefs = await self.preferences(tenant, user_id)
        recent: list[str] = list((prefs or {}).get("recent_items", []))[:HISTORY_ITEMS]
        seen = set((prefs or {}).get("recent_items", []))
        messages = await self.store.recent_user_messages(tenant, user_id, HISTORY_MESSAGES)
        history = await self.store.products(tenant, recent)
        unavailable: dict[str, str] = {}
        candidates: dict[str, ranking.Scored] = {}

        # content: the user's profile (recent items and messages) against product embeddings
        item_vectors = [
            history[i].embedding
            for i in recent
            if i in history and history[i].embedding is not None
        ]
        message_vectors = [m.embedding for m in messages if m.embedding is not None]
        taste = ranking.profile(item_vectors, message_vectors)  # type: ignore[arg-type]
        if taste is None:
            unavailable["content"] = "no history: the user has no behaviour or messages yet"
        else:
            where: dict[str, Any] = {"tenant": tenant}
            if category:
                where["category"] = category
            hits = await self.vectors.search(PRODUCTS, taste, CONTENT_CANDIDATES, where=where)
            raw = {_item_id(h.id): h.score for h in hits if _item_id(h.id) not in seen}
            for pid, score in ranking.scaled(raw).items():
                candidates.setdefault(pid, ranking.Scored(pid)).content = score

        # collaborative: item-item co-occurrence of implicit feedback
        neighbours = await self.store.cooccurring(tenant, recent, 50)
        raw_cf, sources = ranking.collaborative(recent, neighbours)
        raw_cf = {pid: s for pid, s in raw_cf.items() if pid not in seen}
        if not raw_cf:
            unavailable["collaborative"] = (
                "no co-occurring behaviour: nobody who shares this user's items did more yet"
            )
        else:
            for pid, score in ranking.scaled(raw_cf).items():
                candidates.setdefault(pid, ranking.Scored(pid)).collaborative = score

        products = await self.store.products(tenant, list(candidates), embeddings=False)
        if category:
            lowered = category.lower()
            candidates = {
                pid: c
                for pid, c in candidates.items()
                if pid in products and products[pid].category.lower() == lowered
            }
        candidates = {pid: c for pid, c in candidates.items() if pid in products}
        for candidate in candidates.values():
            if candidate.content is None and "content" not in unavailable:
                candidate.content = 0.0
            if candidate.collaborative is None and "collaborative" not in unavailable:
                candidate.collaborative = 0.0
        self._apply_budget(prefs, candidates, products)

        fallback = None
        if not candidates:
            fallback = "popular"
            ids = [
                i for i in await self.popular_ids(tenant, category, k + len(seen)) if i not in seen
            ]
            found = await self.store.products(tenant, ids[:k], embeddings=False)
            items: list[dict[str, Any]] = [
                {
                    "product": product_view(found[pid]),
                    "score": None,
                    "scores": {"content": None, "collaborative": None, "llm": None},
                    "reason": f"popular in {found[pid].category}",
                }
                for pid in ids[:k]
                if pid in found
            ]
            unavailable.setdefault("llm", "not asked: no personal candidates to score")
            return self._answer(user_id, category, items, {}, unavailable, fallback, started)

        available = [n for n in ("content", "collaborative") if n not in unavailable]
        ranked = ranking.combine(
            list(candidates.values()), ranking.weights(self.weights, available)
        )
        if not use_llm:
            unavailable["llm"] = "not asked (llm=false)"
        elif self.weights["llm"] <= 0:
            unavailable["llm"] = "its weight is 0 (INFERLINE_RECSYS_LLM_WEIGHT)"
        else:
            top = ranked[: self.settings.llm_candidates]
            problem = await self._llm_scores(tenant, user_id, prefs, top, products, conversation)
            if problem is None:
                available.append("llm")
            else:
                unavailable["llm"] = problem
        used = ranking.weights(self.weights, available)
        if "llm" in available:
            # the LLM scored the best candidates; the others (llm null, counted 0) follow
            scored = ranking.combine(top, used)
            rest = ranking.combine(ranked[len(top) :], used)
            ranked = (scored + rest)[:k]
        else:
            ranked = ranking.combine(ranked, used)[:k]
        items = [
            {
                "product": product_view(products[c.product_id]),
                "score": c.score,
                "scores": {
                    "content": c.content,
                    "collaborative": c.collaborative,
                    "llm": c.llm,
                },
                "reason": self._reason(c, history, sources, products),
            }
            for c in ranked
        ]
        return self._answer(user_id, category, items, used, unavailable, fallback, started)

    @staticmethod
    def _answer(
        user_id: str,
        category: str | None,
        items: list[dict[str, Any]],
        used: dict[str, float],
        unavailable: dict[str, str],
        fallback: str | None,
        started: float,
    ) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "category": category,
            "items": items,
            "weights": used or {name: 0.0 for name in ranking.COMPONENTS},
            "unavailable": unavailable,
            "fallback": fallback,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    @staticmethod
    def _apply_budget(
        prefs: Preferences | None,
        candidates: dict[str, ranking.Scored],
        products: dict[str, Product],
    ) -> None:
        """Halve the content score of products outside the price band the user asked for."""
        asked = (prefs or {}).get("asked_price") or {}
        low, high = asked.get("min"), asked.get("max")
        if low is None and high is None:
            return
        for pid, candidate in candidates.items():
            price = products[pid].price
            outside = (high is not None and price > high) or (low is not None and price < low)
            if outside and candidate.content:
                candidate.content = round(candidate.content * 0.5, 6)
                candidate.because["budget"] = "outside the price you asked for"

    @staticmethod
    def _reason(
        candidate: ranking.Scored,
        history: dict[str, Product],
        sources: dict[str, str],
        products: dict[str, Product],
    ) -> str:
        parts: list[str] = []
        if candidate.llm_reason:
            parts.append(candidate.llm_reason)
        if candidate.collaborative and candidate.product_id in sources:
            source = history.get(sources[candidate.product_id])
            if source is not None:
                parts.append(f"people who chose {source.name} also chose this")
        if candidate.content:
            parts.append(f"matches your interest in {products[candidate.product_id].category}")
        parts.extend(candidate.because.values())
        return "; ".join(parts) or "a good match"

    async def _llm_scores(
        self,
        tenant: str,
        user_id: str,
        prefs: Preferences | None,
        top: list[ranking.Scored],
        products: dict[str, Product],
        conversation: list[Message] | None,
    ) -> str | None:
        """Ask the LLM to score `top` against the conversation; sets each `llm` score.
        Returns None, or why the LLM part is unavailable."""
        if conversation is None:
            conversation = list(reversed(await self.store.recent_user_messages(tenant, user_id, 3)))
        said = "\n".join(f"{m.role}: {m.content[:300]}" for m in conversation[-6:]) or "(none)"
        listing = "\n".join(
            f"{n}. {products[c.product_id].name} ({products[c.product_id].category}, "
            f"{products[c.product_id].price:g})"
            for n, c in enumerate(top, start=1)
        )
        prompt = (
            f"A shopper {preferences.summary(prefs)}. Their conversation:\n{said}\n\n"
            f"Candidate products:\n{listing}\n\nScore how well each candidate fits this "
            f"shopper from 0 to 1, in the list's order ({len(top)} scores). Answer as "
            '{"scores": [0.9, 0.1, 0.5]}.'
        )

        async def ask() -> LLMScores | str:
            try:
                return await asyncio.wait_for(
                    complete_json(
                        self.llm,
                        [ChatMessage(role="user", content=prompt)],
                        LLMScores,
                        max_tokens=8 * len(top) + 24,
                    ),
                    self.settings.llm_timeout_seconds,
                )
            except InvalidLLMOutput as exc:  # the back-end works; its answer did not
                return f"the LLM's answer was not valid: {exc.message}"

        try:
            outcome = await self.llm_policy.call(ask)
        except LLMUnavailable as exc:
            return f"no LLM: {exc}"
        except Exception as exc:
            return f"the LLM failed: {describe(exc)}"
        answer = outcome.value
        if isinstance(answer, str):
            return answer
        for n, candidate in enumerate(top):
            candidate.llm = round(answer.scores[n], 6) if n < len(answer.scores) else 0.0
            reason = answer.reasons[n].strip()[:200] if n < len(answer.reasons) else ""
            candidate.llm_reason = reason or None
        return None

    # -- conversations -------------------------------------------------------------------
    async def create_conversation(self, tenant: str, user_id: str) -> Conversation:
        conversation = Conversation(new_job_id(), user_id, "ACTIVE", self.clock())
        await self.store.create_conversation(tenant, conversation)
        return conversation

    async def messages(
        self, tenant: str, conversation_id: str, limit: int, before: int | None
    ) -> list[Message]:
        await self.store.conversation(tenant, conversation_id)  # 404 for another tenant's
        return await self.store.messages(tenant, conversation_id, limit, before_seq=before)

    async def post_message(
        self, tenant: str, conversation_id: str, content: str, *, k: int = 5
    ) -> dict[str, Any]:
        """Store the user's message with its embedding and a `conv-msg-created` outbox
        event, learn preferences from it (one transaction), recommend, and store the
        assistant's reply (the LLM's, with the products in its context; without an LLM a
        reply that says so and lists the products)."""
        conversation = await self.store.conversation(tenant, conversation_id)
        degraded: dict[str, str] = {}
        embedding = await self._embed_one(content, degraded)
        categories, tags = await self._catalog_terms(tenant)
        now = self.clock()
        message = Message(
            new_job_id(),
            conversation_id,
            conversation.user_id,
            "user",
            content,
            now,
            embedding=embedding,
        )
        event = BehaviourEvent(
            conversation.user_id,
            "message",
            None,
            now,
            preferences.EVENT_WEIGHTS["message"],
            text=content,
        )
        updated = await self.store.add_message(
            tenant,
            message,
            event=event,
            learn=self._learner(tenant, categories, tags),
            outbox=[self._created_event(tenant, message)],
        )
        if embedding is not None:
            await self.vectors.upsert(MESSAGES, [self._message_record(tenant, message)])
        await self._after_behaviour(
            tenant, [event], {conversation.user_id: updated} if updated is not None else {}
        )
        history = await self.store.messages(tenant, conversation_id, 8)
        recommended = await self.recommend(tenant, conversation.user_id, k, conversation=history)
        reply_text, llm_problem = await self._reply(history, recommended)
        if llm_problem is not None:
            degraded["reply"] = llm_problem
            self.metrics.fallbacks.labels("reply").inc()
        reply_embedding = await self._embed_one(reply_text, degraded)
        reply = Message(
            new_job_id(),
            conversation_id,
            conversation.user_id,
            "assistant",
            reply_text,
            self.clock(),
            embedding=reply_embedding,
        )
        await self.store.add_message(tenant, reply, outbox=[self._created_event(tenant, reply)])
        if reply_embedding is not None:
            await self.vectors.upsert(MESSAGES, [self._message_record(tenant, reply)])
        return {
            "message": message_view(message),
            "reply": message_view(reply),
            "recommendations": recommended,
            "fallbacks": degraded,
        }

    @staticmethod
    def _created_event(tenant: str, message: Message) -> DomainEvent:
        return DomainEvent.new(
            "conv-msg-created",
            message.conversation_id,
            {
                "conversation_id": message.conversation_id,
                "message_id": message.id,
                "user_id": message.user_id,
                "role": message.role,
                "content": message.content[:1000],
            },
            tenant,
            at=message.created_at,
        )

    async def _embed_one(self, text: str, degraded: dict[str, str]) -> np.ndarray | None:
        try:
            (vector,) = await self._embed_texts([text[:2000]])
            return vector
        except InvalidInput:
            raise
        except Exception as exc:
            degraded["embedding"] = f"stored without an embedding ({_problem(exc)})"
            self.metrics.fallbacks.labels("embedding").inc()
            return None

    async def _reply(
        self, history: list[Message], recommended: dict[str, Any]
    ) -> tuple[str, str | None]:
        """The assistant's answer, and why the LLM did not write it (None when it did)."""
        listing = [
            f"{n}. {item['product']['name']} ({item['product']['category']}, "
            f"{item['product']['price']:g})"
            for n, item in enumerate(recommended["items"], start=1)
        ]
        system = (
            "You are a helpful shopping assistant. Answer the shopper briefly and recommend "
            "only from these products:\n" + ("\n".join(listing) or "(no products yet)")
        )
        chat = [ChatMessage(role="system", content=system)] + [
            ChatMessage(role=m.role, content=m.content[:1000]) for m in history[-6:]
        ]
        request = ChatRequest(
            messages=chat, temperature=0.0, max_tokens=self.settings.reply_max_tokens
        )
        timeout = self.settings.llm_timeout_seconds
        try:
            outcome = await self.llm_policy.call(
                lambda: asyncio.wait_for(self.llm.complete(request), timeout)
            )
            if outcome.value.content.strip():
                return outcome.value.content.strip(), None
            problem = "the LLM answered nothing"
        except LLMUnavailable as exc:
            problem = f"no LLM: {exc}"
        except Exception as exc:
            problem = f"the LLM failed: {describe(exc)}"
        text = "The assistant's language model is not available right now, so this is no "
        text += "written answer."
        if listing:
            text += " Products you may like:\n" + "\n".join(listing)
        else:
            text += " There are no products to recommend yet."
        return text, problem

    async def search_messages(
        self, tenant: str, user_id: str, query: str, k: int
    ) -> list[dict[str, Any]]:
        """The user's own messages nearest in meaning to `query`."""
        (vector,) = await self._embed_texts([query])
        hits = await self.vectors.search(
            MESSAGES, vector, k, where={"tenant": tenant, "user_id": user_id, "role": "user"}
        )
        found = await self.store.messages_by_id(tenant, [_item_id(h.id) for h in hits])
        return [
            {"message": message_view(found[_item_id(h.id)]), "score": round(h.score, 6)}
            for h in hits
            if _item_id(h.id) in found
        ]
