"""The hybrid score of source S3 (pure functions): content 30 %, collaborative 30 %, LLM
40 %, renormalised over the components available for a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

COMPONENTS = ("content", "collaborative", "llm")
ITEM_DECAY = 0.9
"""The i-th most recent item counts ITEM_DECAY**i in the user's profile."""
MESSAGE_DECAY = 0.8


@dataclass
class Scored:
    """A candidate and its component scores in [0, 1] (None: not scored by that one)."""

    product_id: str
    content: float | None = None
    collaborative: float | None = None
    llm: float | None = None
    llm_reason: str | None = None
    score: float = 0.0
    because: dict[str, str] = field(default_factory=dict)

    def component(self, name: str) -> float | None:
        value: float | None = getattr(self, name)
        return value


def weights(configured: Mapping[str, float], available: Sequence[str]) -> dict[str, float]:
    """The configured weights of the available components, scaled to sum to 1."""
    total = sum(configured[name] for name in available)
    if total <= 0:
        return {name: 0.0 for name in COMPONENTS}
    return {
        name: round(configured[name] / total, 6) if name in available else 0.0
        for name in COMPONENTS
    }


def profile(
    item_vectors: Sequence[np.ndarray], message_vectors: Sequence[np.ndarray]
) -> np.ndarray | None:
    """The user's taste as one unit vector: recent items and messages, newest weigh most."""
    parts = [ITEM_DECAY**i * v for i, v in enumerate(item_vectors)]
    parts += [MESSAGE_DECAY**i * v for i, v in enumerate(message_vectors)]
    if not parts:
        return None
    total = np.sum(np.asarray(parts, dtype=np.float64), axis=0)
    norm = float(np.linalg.norm(total))
    if norm == 0.0:
        return None
    unit: np.ndarray = (total / norm).astype(np.float32)
    return unit


def scaled(raw: Mapping[str, float]) -> dict[str, float]:
    """Scores divided by the best one (negative ones become 0), so the best is 1."""
    best = max((v for v in raw.values() if v > 0), default=0.0)
    if best <= 0:
        return {key: 0.0 for key in raw}
    return {key: round(max(0.0, value) / best, 6) for key, value in raw.items()}


def collaborative(
    recent: Sequence[str], neighbours: Mapping[str, Mapping[str, float]]
) -> tuple[dict[str, float], dict[str, str]]:
    """Item-item scores from the co-occurrence of the user's recent items (newest weigh
    most), and for each item the recent item that contributed most."""
    raw: dict[str, float] = {}
    best: dict[str, tuple[float, str]] = {}
    for position, item in enumerate(recent):
        decay = ITEM_DECAY**position
        for other, weight in neighbours.get(item, {}).items():
            contribution = decay * weight
            raw[other] = raw.get(other, 0.0) + contribution
            if other not in best or contribution > best[other][0]:
                best[other] = (contribution, item)
    return raw, {other: source for other, (_, source) in best.items()}


def combine(candidates: Sequence[Scored], used: Mapping[str, float]) -> list[Scored]:
    """Each candidate's score under the weights `used`, best first (ties by id)."""
    for candidate in candidates:
        candidate.score = round(
            sum(w * (candidate.component(name) or 0.0) for name, w in used.items() if w > 0), 6
        )
    return sorted(candidates, key=lambda c: (-c.score, c.product_id))
