"""The analysers an article is fanned out to. Each reads an `ArticleContext` and returns
its output as a dict, raises on failure, or raises `Skipped` when it cannot run here.

- `sentiment`: VADER's lexicon and rules (local, no model download).
- `keywords`: YAKE, statistical keyword extraction (local).
- `embedding`: the MiniLM embedding, through the served model's micro-batcher.
- `topics`: zero-shot, by cosine similarity of the article's embedding to label descriptions.
- `summary`: one sentence by the configured chat model (`ChatModel`), or skipped without one.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from inferline.apps.news.models import RawNewsArticle
from inferline.ports.llm import ChatMessage, ChatModel, ChatRequest, LLMUnavailable

Vector = npt.NDArray[np.float32]
"""An L2-normalised embedding."""

Embedder = Callable[[list[str]], Awaitable[list[Vector]]]
"""Texts to L2-normalised vectors (the served MiniLM, through its batcher and cache)."""

EMBED_CHARS = 2_000  # MiniLM reads 256 tokens; more text only costs tokenising
SUMMARY_INPUT_CHARS = 1_500
POSITIVE_AT = 0.05  # VADER's own thresholds on the compound score
NEGATIVE_AT = -0.05
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”]?\s")  # the end, a closing quote, a space


class Skipped(Exception):
    """The analyser cannot run in this deployment (the reason is its message)."""


class ArticleContext:
    """One article being analysed, with its embedding computed once for whoever needs it."""

    def __init__(self, article: RawNewsArticle, embedder: Embedder) -> None:
        self.article = article
        self._embedder = embedder
        self._embedding: asyncio.Task[Vector] | None = None

    async def embedding(self) -> Vector:
        """The article's MiniLM embedding; the first caller starts it, the others share it."""
        if self._embedding is None:
            self._embedding = asyncio.ensure_future(self._embed())
        return await asyncio.shield(self._embedding)

    async def _embed(self) -> Vector:
        (vector,) = await self._embedder([self.article.text[:EMBED_CHARS]])
        return vector

    @property
    def vector(self) -> Vector | None:
        """The embedding if it was computed successfully."""
        task = self._embedding
        if task is None or not task.done() or task.cancelled() or task.exception():
            return None
        return task.result()


class Analyser(Protocol):
    name: ClassVar[str]

    async def analyse(self, context: ArticleContext) -> dict[str, Any]: ...


class SentimentAnalyser:
    """VADER: compound score in [-1, 1] and a label by VADER's thresholds."""

    name: ClassVar[str] = "sentiment"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()

    async def analyse(self, context: ArticleContext) -> dict[str, Any]:
        return await asyncio.to_thread(self.score, context.article)

    def score(self, article: RawNewsArticle) -> dict[str, Any]:
        # The headline carries the tone; the lead adds context without drowning it.
        scores = self._vader.polarity_scores(f"{article.title}. {article.content[:600]}")
        compound = float(scores["compound"])
        label = (
            "positive"
            if compound >= POSITIVE_AT
            else "negative"
            if compound <= NEGATIVE_AT
            else "neutral"
        )
        return {
            "label": label,
            "compound": compound,
            "positive": float(scores["pos"]),
            "neutral": float(scores["neu"]),
            "negative": float(scores["neg"]),
            "model": "vader",
        }


class KeywordAnalyser:
    """YAKE: the article's most characteristic phrases (lower score: more relevant)."""

    name: ClassVar[str] = "keywords"

    def __init__(self, top: int = 8, max_words: int = 3) -> None:
        self.top = top
        self.max_words = max_words
        self._local = threading.local()  # one extractor per thread (it loads its stopwords)

    async def analyse(self, context: ArticleContext) -> dict[str, Any]:
        return await asyncio.to_thread(self.extract, context.article.text)

    def extract(self, text: str) -> dict[str, Any]:
        extractor = getattr(self._local, "extractor", None)
        if extractor is None:
            import yake

            extractor = yake.KeywordExtractor(lan="en", n=self.max_words, top=self.top)
            self._local.extractor = extractor
        found = extractor.extract_keywords(text[: EMBED_CHARS * 2])
        return {
            "keywords": [{"keyword": str(k), "score": round(float(s), 6)} for k, s in found],
            "model": "yake",
        }


class EmbeddingAnalyser:
    """The article's MiniLM embedding, kept for similar-article search."""

    name: ClassVar[str] = "embedding"

    def __init__(self, model: str) -> None:
        self.model = model

    async def analyse(self, context: ArticleContext) -> dict[str, Any]:
        vector = await context.embedding()
        return {"dim": int(vector.shape[0]), "model": self.model}


DEFAULT_TOPICS: dict[str, str] = {
    "politics": "politics, government, elections, parliament, political parties and laws",
    "business": "business, economy, markets, companies, trade, finance and jobs",
    "technology": "technology, software, computers, the internet, gadgets and AI",
    "science": "science, research, space, physics, biology and discoveries",
    "health": "health, medicine, disease, hospitals, doctors and public health",
    "sports": "sports, football, basketball, tennis, matches, teams and athletes",
    "entertainment": "entertainment, film, music, television, celebrities and the arts",
    "environment": "environment, climate change, weather, energy, pollution and nature",
    "world": "world news, international relations, war, conflict and diplomacy",
}


class TopicAnalyser:
    """Zero-shot topics: the article's embedding against each label's description."""

    name: ClassVar[str] = "topics"

    def __init__(self, embedder: Embedder, labels: Mapping[str, str], top: int = 3) -> None:
        if not labels:
            raise ValueError("topics need at least one label")
        self.embedder = embedder
        self.labels = dict(labels)
        self.top = top
        self._matrix: Vector | None = None
        self._lock = asyncio.Lock()

    async def label_vectors(self) -> Vector:
        """The labels' description embeddings (one row each), computed once."""
        async with self._lock:
            if self._matrix is None:
                vectors = await self.embedder(list(self.labels.values()))
                self._matrix = np.vstack(vectors).astype(np.float32)
            return self._matrix

    async def analyse(self, context: ArticleContext) -> dict[str, Any]:
        labels, vector = await asyncio.gather(self.label_vectors(), context.embedding())
        scores = labels @ vector.astype(np.float32)  # both L2-normalised: cosine
        ranked = sorted(zip(self.labels, scores.tolist(), strict=True), key=lambda p: -p[1])
        return {
            "top": ranked[0][0],
            "labels": [{"label": label, "score": round(s, 4)} for label, s in ranked[: self.top]],
        }


SUMMARY_PROMPT = (
    "You summarise news articles. Answer with exactly one sentence of at most 30 words "
    "that states the main news. No preamble, no quotes."
)


class SummaryAnalyser:
    """One sentence by the LLM. Without a chat model, or when the port says the LLM is
    unavailable, the result is `skipped` with the reason: the article does not fail."""

    name: ClassVar[str] = "summary"

    def __init__(self, chat: ChatModel | None, *, max_tokens: int = 60) -> None:
        self.chat = chat
        self.max_tokens = max_tokens

    def request(self, article: RawNewsArticle) -> ChatRequest:
        body = article.content[:SUMMARY_INPUT_CHARS]
        return ChatRequest(
            messages=[
                ChatMessage(role="system", content=SUMMARY_PROMPT),
                ChatMessage(role="user", content=f"Title: {article.title}\n\n{body}".strip()),
            ],
            temperature=0.0,
            max_tokens=self.max_tokens,
        )

    async def analyse(self, context: ArticleContext) -> dict[str, Any]:
        if self.chat is None:
            raise Skipped("no LLM configured (set INFERLINE_LLM_URL or serve a chat model)")
        try:
            completion = await self.chat.complete(self.request(context.article))
        except LLMUnavailable as exc:  # the port's way of saying "no LLM here (now)"
            raise Skipped(f"LLM unavailable: {exc}") from None
        sentence = first_sentence(completion.content)
        if not sentence:
            raise ValueError(f"the LLM {completion.model} answered no text")
        return {
            "summary": sentence,
            "model": completion.model,
            "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        }


def first_sentence(text: str) -> str:
    """The first sentence of a model's answer, without quotes or a leading label."""
    text = " ".join(text.split())
    text = re.sub(r"^(summary|one-sentence summary)\s*:\s*", "", text, flags=re.I)
    sentence = _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""
    return sentence.strip().strip("\"'“”").strip()
