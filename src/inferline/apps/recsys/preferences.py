"""How behaviour becomes preferences (pure functions: no I/O, no clock).

A user's preferences are JSON: weights of categories and tags (older behaviour decays),
the price band of what they interacted with (and any bound they asked for), and their
recent items, newest first. Each event type weighs differently: an order says more than
a view. Messages teach the categories and tags the user names, and price bounds such as
"under 50".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from inferline.domain.domain_events import DomainEvent
from inferline.ports.recsys import BehaviourEvent, EventType, Preferences, Product

EVENT_WEIGHTS: dict[EventType, float] = {
    "view": 1.0,
    "like": 2.0,
    "cart": 3.0,
    "order": 5.0,
    "message": 1.5,
}
DECAY = 0.97
"""Each event multiplies the older weights by this (about 23 events to halve)."""
RECENT_ITEMS = 50
MAX_TERMS = 100

_WORD = re.compile(r"[a-z0-9][a-z0-9\-]*")
_NUMBER = r"\s*\$?\s*(\d+(?:\.\d+)?)"
_BELOW = re.compile(r"(?:under|below|less than|cheaper than|at most|max(?:imum)?)" + _NUMBER)
_ABOVE = re.compile(r"(?:over|above|more than|at least|min(?:imum)?)" + _NUMBER)


def empty() -> Preferences:
    return {
        "categories": {},
        "tags": {},
        "price": {"min": None, "max": None, "mean": None, "count": 0},
        "asked_price": {"min": None, "max": None},
        "recent_items": [],
        "events": 0,
    }


def words(text: str) -> list[str]:
    """Lower-case words, and each plural's singular (`shoes` → `shoe`) beside it."""
    found: list[str] = []
    for word in _WORD.findall(text.lower()):
        found.append(word)
        if len(word) > 3 and word.endswith("s"):
            found.append(word[:-1])
    return found


def mentioned(text: str, categories: set[str], tags: set[str]) -> tuple[list[str], list[str]]:
    """The catalog's categories and tags that the text names (single and two-word terms)."""
    tokens = words(text)
    lowered = text.lower()
    cats = sorted({c for c in categories if c in tokens or (" " in c and c in lowered)})
    tagged = sorted({t for t in tags if t in tokens or (" " in t and t in lowered)})
    return cats, tagged


def price_bounds(text: str) -> tuple[float | None, float | None]:
    """A (min, max) price the text asks for ("under 50" → (None, 50))."""
    lowered = text.lower()
    below = _BELOW.search(lowered)
    above = _ABOVE.search(lowered)
    return (float(above.group(1)) if above else None, float(below.group(1)) if below else None)


def _bump(weights: dict[str, float], key: str, amount: float) -> None:
    weights[key] = round(weights.get(key, 0.0) + amount, 6)


def _decay(weights: dict[str, float], factor: float) -> dict[str, float]:
    kept = {k: round(v * factor, 6) for k, v in weights.items() if v * factor >= 0.01}
    return dict(sorted(kept.items(), key=lambda kv: -kv[1])[:MAX_TERMS])


def merge(
    stored: Preferences | None,
    events: Sequence[BehaviourEvent],
    products: dict[str, Product],
    categories: set[str] | None = None,
    tags: set[str] | None = None,
) -> Preferences:
    """The preferences after `events` (in order), from `stored` (None: a new user)."""
    prefs: dict[str, Any] = {**empty(), **(stored or {})}
    cats: dict[str, float] = dict(prefs["categories"])
    tag_weights: dict[str, float] = dict(prefs["tags"])
    price = dict(prefs["price"])
    asked = dict(prefs["asked_price"])
    recent: list[str] = list(prefs["recent_items"])
    for event in events:
        weight = event.weight
        cats = _decay(cats, DECAY)
        tag_weights = _decay(tag_weights, DECAY)
        product = products.get(event.product_id) if event.product_id else None
        if product is not None:
            _bump(cats, product.category.lower(), weight)
            for tag in product.tags:
                _bump(tag_weights, tag.lower(), weight / max(1, len(product.tags)) * 2)
            count = int(price["count"])
            mean = price["mean"] if price["mean"] is not None else product.price
            price = {
                "min": product.price if price["min"] is None else min(price["min"], product.price),
                "max": product.price if price["max"] is None else max(price["max"], product.price),
                "mean": round((mean * count + product.price) / (count + 1), 4),
                "count": count + 1,
            }
            if product.id in recent:
                recent.remove(product.id)
            recent.insert(0, product.id)
        if event.text:
            named_cats, named_tags = mentioned(event.text, categories or set(), tags or set())
            for category in named_cats:
                _bump(cats, category, weight)
            for tag in named_tags:
                _bump(tag_weights, tag, weight)
            low, high = price_bounds(event.text)
            if low is not None or high is not None:
                asked = {"min": low, "max": high}
    prefs.update(
        categories=cats,
        tags=tag_weights,
        price=price,
        asked_price=asked,
        recent_items=recent[:RECENT_ITEMS],
        events=int(prefs["events"]) + len(events),
    )
    return prefs


def domain_events(
    tenant: str,
    user_id: str,
    events: Sequence[BehaviourEvent],
    prefs: Preferences,
    products: dict[str, Product],
) -> list[DomainEvent]:
    """`user-preference-updated` for the user, and `order-placed` for each order (keyed
    by the user, so one user's events stay in order on the stream)."""
    top = sorted(prefs["categories"], key=lambda c: -prefs["categories"][c])[:3]
    out = [
        DomainEvent.new(
            "user-preference-updated",
            user_id,
            {"user_id": user_id, "events": len(events), "top_categories": top},
            tenant,
            at=max(e.at for e in events),
        )
    ]
    for event in events:
        if event.type == "order" and event.product_id is not None:
            product = products[event.product_id]
            payload = {
                "user_id": user_id,
                "product_id": product.id,
                "category": product.category,
                "price": product.price,
            }
            out.append(DomainEvent.new("order-placed", user_id, payload, tenant, at=event.at))
    return out


def summary(prefs: Preferences | None, limit: int = 3) -> str:
    """A short description of the preferences for the LLM's context."""
    if not prefs:
        return "no known preferences yet"
    cats = sorted(prefs["categories"], key=lambda c: -prefs["categories"][c])[:limit]
    tag_list = sorted(prefs["tags"], key=lambda t: -prefs["tags"][t])[:limit]
    parts = []
    if cats:
        parts.append("likes " + ", ".join(cats))
    if tag_list:
        parts.append("tags " + ", ".join(tag_list))
    asked = prefs.get("asked_price") or {}
    if asked.get("max") is not None:
        parts.append(f"budget under {asked['max']:g}")
    if asked.get("min") is not None:
        parts.append(f"above {asked['min']:g}")
    return "; ".join(parts) or "no known preferences yet"
