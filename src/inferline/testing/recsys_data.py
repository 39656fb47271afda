"""A generated catalog and users with known tastes, for the recommendation app's quality
test and benchmark: hit rate at k of the hybrid score against a popularity baseline.

Products come in categories and, inside each, themed groups (running shoes, hiking
boots, …); each user likes one group. Everybody also views a few "head" products that
are popular with all. Each user's history is some items of their group and some head
views; the held-out item is another item of their group, which a recommender that
understands the user should rank in its top k and a popularity ranking mostly should not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

GROUPS: dict[str, dict[str, list[str]]] = {
    "shoes": {
        "running": ["running shoe", "marathon trainer", "road racing flat", "jogging sneaker"],
        "hiking": [
            "hiking boot",
            "trail walking boot",
            "mountain trekking shoe",
            "waterproof hiker",
        ],
        "formal": ["leather oxford", "dress shoe", "polished derby", "office loafer"],
        "kids": ["kids sneaker", "children's school shoe", "toddler sandal", "junior trainer"],
    },
    "electronics": {
        "audio": [
            "wireless headphones",
            "bluetooth speaker",
            "noise cancelling earbuds",
            "soundbar",
        ],
        "gaming": ["gaming mouse", "mechanical keyboard", "game controller", "gaming headset"],
        "photo": ["mirrorless camera", "camera lens", "tripod", "camera flash"],
        "phone": ["phone charger", "phone case", "power bank", "usb-c cable"],
    },
    "kitchen": {
        "coffee": ["espresso machine", "coffee grinder", "milk frother", "pour-over kettle"],
        "baking": ["baking tray", "stand mixer", "silicone spatula", "bread loaf tin"],
        "knives": ["chef's knife", "knife sharpener", "paring knife", "bread knife"],
        "tea": ["tea infuser", "loose leaf green tea", "teapot", "matcha whisk"],
    },
    "books": {
        "scifi": [
            "space opera novel",
            "cyberpunk thriller",
            "time travel story",
            "alien contact novel",
        ],
        "cooking": ["italian cookbook", "vegan recipes book", "baking bible", "grilling guide"],
        "history": [
            "roman empire history",
            "world war chronicle",
            "medieval kings biography",
            "ancient egypt history",
        ],
        "kids": [
            "picture book for toddlers",
            "bedtime stories",
            "children's animal book",
            "alphabet book",
        ],
    },
    "outdoor": {
        "camping": ["camping tent", "sleeping bag", "camping stove", "folding camp chair"],
        "cycling": ["bike helmet", "cycling gloves", "bike light", "road bike saddle"],
        "fishing": ["fishing rod", "fishing reel", "tackle box", "fishing lure set"],
        "climbing": ["climbing harness", "climbing rope", "chalk bag", "belay device"],
    },
    "beauty": {
        "skincare": ["face moisturiser", "vitamin c serum", "gentle cleanser", "sunscreen spf 50"],
        "hair": ["argan hair oil", "shampoo for curly hair", "hair dryer", "hair straightener"],
        "fragrance": ["eau de parfum", "cologne for men", "scented body mist", "perfume gift set"],
        "makeup": ["matte lipstick", "mascara", "foundation", "eyeshadow palette"],
    },
}
PRICES = {
    "shoes": (40, 180),
    "electronics": (10, 900),
    "kitchen": (8, 400),
    "books": (8, 40),
    "outdoor": (15, 300),
    "beauty": (6, 120),
}
BRANDS = ["Nordic", "Acme", "Zen", "Urban", "Summit", "Pioneer", "Lumen", "Orbit", "Vista", "Nova"]


@dataclass
class Dataset:
    products: list[dict[str, Any]]
    group_of: dict[str, tuple[str, str]]
    head: list[str]
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    held_out: dict[str, str] = field(default_factory=dict)

    def events(self) -> list[dict[str, Any]]:
        """Every user's history as `POST /api/v1/events` bodies, users interleaved."""
        out: list[dict[str, Any]] = []
        longest = max((len(h) for h in self.history.values()), default=0)
        for step in range(longest):
            for user in sorted(self.history):
                if step < len(self.history[user]):
                    out.append(self.history[user][step])
        return out


def catalog(seed: int = 7, per_group: int = 10) -> Dataset:
    """Products: every category's groups, `per_group` each; ten head products."""
    rng = random.Random(seed)
    products: list[dict[str, Any]] = []
    group_of: dict[str, tuple[str, str]] = {}
    for category, groups in GROUPS.items():
        low, high = PRICES[category]
        for group, nouns in groups.items():
            for n in range(per_group):
                noun = nouns[n % len(nouns)]
                brand = rng.choice(BRANDS)
                pid = f"{category[:3]}-{group}-{n:02d}"
                products.append(
                    {
                        "id": pid,
                        "name": f"{brand} {noun} {n + 1}",
                        "description": f"A {noun} for {group} lovers: {', '.join(nouns)}.",
                        "category": category,
                        "price": float(rng.randint(low, high)),
                        "tags": [group, noun.split()[-1]],
                    }
                )
                group_of[pid] = (category, group)
    head = rng.sample([p["id"] for p in products], 10)
    return Dataset(products, group_of, head)


def users_with_tastes(
    data: Dataset, users: int = 120, seed: int = 11, items_seen: int = 4, head_views: int = 3
) -> Dataset:
    """Each user likes one group: views, likes, carts and orders `items_seen` of its items,
    views `head_views` head products; one more item of the group is held out."""
    rng = random.Random(seed)
    groups = sorted({g for g in data.group_of.values()})
    by_group: dict[tuple[str, str], list[str]] = {}
    for pid, group in data.group_of.items():
        by_group.setdefault(group, []).append(pid)
    types = ["view", "like", "cart", "order"]
    for u in range(users):
        user = f"user-{u:04d}"
        taste = groups[u % len(groups)]
        items = rng.sample(sorted(by_group[taste]), items_seen + 1)
        seen, held = items[:items_seen], items[items_seen]
        history = [{"user_id": user, "type": rng.choice(types), "product_id": pid} for pid in seen]
        for pid in rng.sample(data.head, head_views):
            history.insert(
                rng.randrange(len(history) + 1),
                {"user_id": user, "type": "view", "product_id": pid},
            )
        data.users[user] = taste
        data.history[user] = history
        data.held_out[user] = held
    return data


def hit_rate(recommended: dict[str, list[str]], held_out: dict[str, str]) -> float:
    """The share of users whose held-out item is among their recommended ids."""
    if not held_out:
        return 0.0
    hits = sum(1 for user, item in held_out.items() if item in recommended.get(user, []))
    return hits / len(held_out)
