"""Embedding use cases: embed texts through the model's batcher with a cache, similarity, stats."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from inferline.application.embedding_stats import EmbeddingStats
from inferline.application.inputs import validate_input
from inferline.core.validation import item_field
from inferline.domain.errors import InvalidInput, Unavailable
from inferline.ports.cache import Cache
from inferline.ports.embedding import MAX_TEXT_CHARS, TextEmbeddingModel
from inferline.ports.metrics import UseCaseMetrics
from inferline.ports.serving import Lane, ModelServing, ServedModel

SUBMIT_WAVE = 256  # texts of one request in the batcher at once, so one request cannot fill it
_HEADER = struct.Struct("<IB")  # tokens, truncated


@dataclass(frozen=True, slots=True)
class EmbeddedText:
    """One text's embedding and how it was obtained."""

    embedding: np.ndarray  # float32, L2-normalised
    tokens: int
    truncated: bool
    cached: bool


@dataclass(frozen=True, slots=True)
class Embeddings:
    """The embeddings of a request's texts, in order, and the model that made them."""

    model: str
    dim: int
    items: list[EmbeddedText]


def encode_entry(output: dict[str, Any]) -> bytes:
    """A model output as a compact cache value: header + float32 vector."""
    header = _HEADER.pack(output["tokens"], 1 if output["truncated"] else 0)
    return header + np.asarray(output["embedding"], dtype="<f4").tobytes()


def decode_entry(value: bytes) -> EmbeddedText:
    """A cache value back to an embedding (marked as cached)."""
    tokens, truncated = _HEADER.unpack_from(value)
    vector = np.frombuffer(value, dtype="<f4", offset=_HEADER.size)
    return EmbeddedText(vector, tokens, bool(truncated), cached=True)


def cache_key(model: str, version: str, variant: str, text: str) -> str:
    """The cache key of a text: a hash of the model, its version and variant, and the text."""
    digest = hashlib.sha256(f"{model}\x00{version}\x00{variant}\x00{text}".encode()).hexdigest()
    return f"emb:{digest}"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity in [-1, 1]; zero vectors are rejected by the caller.

    Each vector is first divided by its largest magnitude, which leaves the angle as it
    is: values near the float limits (1e308, 1e-313) then neither overflow to inf/NaN
    nor underflow to zero."""
    a = a / np.max(np.abs(a))
    b = b / np.max(np.abs(b))
    value = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return min(1.0, max(-1.0, value))


class EmbeddingService:
    """Embeds texts with the cache in front of the model's micro-batcher."""

    def __init__(
        self,
        models: ModelServing,
        cache: Cache,
        metrics: UseCaseMetrics,
        *,
        default_model: str,
        ttl_seconds: float,
    ) -> None:
        self.models = models
        self.cache = cache
        self.metrics = metrics
        self.default_model = default_model
        self.ttl_seconds = ttl_seconds
        self.stats = EmbeddingStats()
        self._hits = metrics.cache_hits.labels("embeddings")
        self._misses = metrics.cache_misses.labels("embeddings")

    def embedding_model(self, name: str | None = None) -> ServedModel:
        """The served model by name (default: the configured embedding model); must embed text."""
        served = self.models.get(name or self.default_model)
        if not issubclass(served.model_class, TextEmbeddingModel):
            raise InvalidInput(
                f"model {served.name} does not embed text",
                details=[{"field": "model", "message": "not a text-embedding model"}],
            )
        return served

    def embedding_models(self) -> list[ServedModel]:
        """Every served text-embedding model."""
        return [m for m in self.models.served() if issubclass(m.model_class, TextEmbeddingModel)]

    async def embed(
        self,
        texts: list[str],
        model: str | None = None,
        *,
        field: str = "texts",
        field_names: list[str] | None = None,
    ) -> Embeddings:
        """Embed every text (cached ones from the cache); any invalid text rejects them all."""
        started = time.perf_counter()
        served = self.embedding_model(model)
        model_class = served.model_class
        assert issubclass(model_class, TextEmbeddingModel)
        names = field_names or [item_field(field, i, len(texts)) for i in range(len(texts))]
        items = [
            self._validated(served, text, name) for text, name in zip(texts, names, strict=True)
        ]
        variant = _variant(served)
        keys = [cache_key(served.name, model_class.version, variant, t) for t in texts]
        cached = await self.cache.get_many(keys) if self.ttl_seconds > 0 else [None] * len(keys)
        results: list[EmbeddedText | None] = [
            decode_entry(value) if value is not None else None for value in cached
        ]
        missing: dict[str, int] = {}  # key -> first index; repeated texts are embedded once
        for index, result in enumerate(results):
            if result is None:
                missing.setdefault(keys[index], index)
        computed = await self._compute(served, [items[i] for i in missing.values()])
        if self.ttl_seconds > 0 and computed:
            await self.cache.set_many(
                {key: encode_entry(out) for key, out in zip(missing, computed, strict=True)},
                self.ttl_seconds,
            )
        fresh = {key: _from_output(out) for key, out in zip(missing, computed, strict=True)}
        final = [r if r is not None else fresh[keys[i]] for i, r in enumerate(results)]
        hits = len(texts) - sum(1 for r in results if r is None)
        self._hits.inc(hits)
        self._misses.inc(len(texts) - hits)
        self.stats.record(len(texts), hits, len(texts) - hits, time.perf_counter() - started)
        return Embeddings(served.name, model_class.dimension, final)

    def _validated(self, served: ServedModel, text: str, field: str) -> Any:
        if not text.strip():
            raise InvalidInput(
                f"{field} is empty; give text with at least one non-space character",
                details=[{"field": field, "message": "must not be empty or only whitespace"}],
            )
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidInput(
                f"{field} is longer than {MAX_TEXT_CHARS} characters",
                details=[{"field": field, "message": f"{len(text)} characters"}],
            )
        return validate_input(served.model_class, {"text": text}, field=field)

    async def _compute(self, served: ServedModel, items: list[Any]) -> list[dict[str, Any]]:
        outputs: list[dict[str, Any]] = []
        for start in range(0, len(items), SUBMIT_WAVE):
            wave = items[start : start + SUBMIT_WAVE]
            outputs.extend(await asyncio.gather(*(served.infer(i, Lane.SYNC) for i in wave)))
        return outputs

    async def similarity_of_texts(self, text1: str, text2: str, model: str | None = None) -> float:
        """Cosine similarity of two texts' embeddings."""
        result = await self.embed([text1, text2], model, field_names=["text1", "text2"])
        first, second = (item.embedding.astype(np.float64) for item in result.items)
        return cosine(first, second)

    @staticmethod
    def similarity_of_vectors(vector1: list[float], vector2: list[float]) -> float:
        """Cosine similarity of two vectors of the same length, neither all zeros."""
        if len(vector1) != len(vector2):
            raise InvalidInput(
                f"vector1 has {len(vector1)} values and vector2 {len(vector2)}; they must match",
                details=[{"field": "vector2", "message": "length differs from vector1"}],
            )
        first, second = np.asarray(vector1), np.asarray(vector2)
        for name, vector in (("vector1", first), ("vector2", second)):
            if not np.any(vector):
                raise InvalidInput(
                    f"{name} is all zeros; cosine similarity is undefined",
                    details=[{"field": name, "message": "all zeros"}],
                )
        return cosine(first, second)

    def mean_batch_size(self, model: str | None = None) -> float | None:
        """Mean items per model batch since start (from the batch-size histogram)."""
        name = self.embedding_model(model).name
        total = self.metrics.sample_value("inferline_batch_size_sum", {"model": name})
        count = self.metrics.sample_value("inferline_batch_size_count", {"model": name})
        return round(total / count, 3) if total is not None and count else None


def _variant(served: ServedModel) -> str:
    instance = served.instance
    if not isinstance(instance, TextEmbeddingModel):
        raise Unavailable(f"model {served.name} is not loaded yet", retry_after=1.0)
    return instance.variant


def _from_output(output: dict[str, Any]) -> EmbeddedText:
    vector = np.asarray(output["embedding"], dtype=np.float32)
    return EmbeddedText(vector, output["tokens"], output["truncated"], cached=False)
