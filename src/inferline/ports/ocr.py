"""The OCR model contract: what the OCR app and its jobs rely on.

An OCR model is an `InferenceModel` whose input is one document (an image, or pages
of a PDF) given either inline as bytes (a synchronous request: never stored) or as a
key in the blob store (a job: the row holds the key, not the image), and whose output
is the recognised lines with their confidence and box.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import Field, model_validator

from inferline.core.documents import (
    DocumentLimits,
    DocumentProblem,
    Page,
    load_pages,
    page_number,
)
from inferline.domain.errors import InvalidInput, PayloadTooLarge, Unavailable
from inferline.ports.blobs import BlobNotFound, BlobStore
from inferline.ports.model import InferenceModel, ModelInput, ModelOutput

Language = Literal["eng", "kor", "eng+kor"]
BLOB_KEY_PATTERN = r"^ocr/[A-Za-z0-9%._-]{1,200}/[0-9a-f-]{36}/[0-9a-f]{32}$"


class OcrInput(ModelInput):
    """One document to read: inline `image` bytes (synchronous requests only) or a
    `blob` key (jobs), the language, and for a PDF the 1-based pages to read."""

    image: bytes | None = Field(
        default=None,
        strict=True,  # real bytes only: a JSON job cannot put an image into its row
        exclude=True,
        description="The document itself (synchronous requests; never stored).",
    )
    blob: str | None = Field(
        default=None,
        pattern=BLOB_KEY_PATTERN,
        description="Key of the uploaded document in the blob store (jobs).",
    )
    lang: Language = Field(default="eng", description="Tesseract language(s): eng, kor, eng+kor.")
    layout: Literal["block", "auto"] = Field(
        default="block",
        description="Tesseract: `block` reads one block of lines top to bottom (forms, "
        "receipts, single columns); `auto` finds columns and blocks itself. RapidOCR "
        "ignores it (its detector finds the lines).",
    )
    pages: list[int] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="1-based PDF pages to read, in order; default every page (images: ignored).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> OcrInput:
        if (self.image is None) == (self.blob is None):
            raise ValueError("give exactly one of image (bytes) and blob (a blob store key)")
        if self.pages is not None and any(p < 1 for p in self.pages):
            raise ValueError("pages are numbered from 1")
        return self


class OcrLine(ModelOutput):
    """One recognised line: its text, confidence (0 to 1), box [x0, y0, x1, y1] in
    pixels of its page (PDF pages rendered at the model's DPI) and the page's number in
    the document."""

    text: str
    confidence: float
    box: list[int]
    page: int = 1


class OcrOutput(ModelOutput):
    """The document's text (lines joined, pages separated by a form feed), its lines,
    its page count, and the time the model spent on it."""

    text: str
    lines: list[OcrLine]
    pages: int
    timing_ms: float


class OcrModel(InferenceModel):
    """Base of OCR models: reads documents from bytes or the blob store, page by page."""

    input_schema = OcrInput
    output_schema = OcrOutput
    languages: tuple[str, ...] = ("eng", "kor", "eng+kor")
    """What the model reads (an instance may narrow it to the data it finds at load)."""

    def __init__(
        self, blobs: BlobStore | None = None, limits: DocumentLimits | None = None
    ) -> None:
        self.blobs = blobs
        self.limits = limits or DocumentLimits()

    def document(self, item: OcrInput) -> list[Page]:
        """The pages an input asks for, decoded (InvalidInput when that is impossible)."""
        if item.lang not in self.languages:
            raise InvalidInput(
                f"model {self.name} does not read {item.lang!r}; it reads {list(self.languages)}",
                details=[{"field": "lang", "message": "unsupported language"}],
            )
        data = item.image
        if data is None:
            if self.blobs is None:  # a deployment error, not the input's: retried
                raise Unavailable(f"model {self.name} has no blob store to read {item.blob}")
            try:
                data = self.blobs.get(item.blob or "")
            except BlobNotFound:
                raise InvalidInput(
                    "the job's document is gone from the blob store (removed with the job?)"
                ) from None
        try:
            return load_pages(data, self.limits, item.pages)
        except DocumentProblem as exc:
            raise document_error(exc) from None

    def predict_batch(self, inputs: list[OcrInput]) -> list[OcrOutput]:
        started = time.perf_counter()
        documents = [self.document(item) for item in inputs]
        lines = self.read_documents(documents, inputs)
        outputs = []
        elapsed = (time.perf_counter() - started) * 1000 / max(1, len(inputs))
        for pages, found in zip(documents, lines, strict=True):
            outputs.append(
                OcrOutput(
                    text=join_text(found, [page_number(p) for p in pages]),
                    lines=found,
                    pages=len(pages),
                    timing_ms=round(elapsed, 2),
                )
            )
        return outputs

    def read_documents(
        self, documents: list[list[Page]], inputs: list[OcrInput]
    ) -> list[list[OcrLine]]:
        """The lines of each document (the batch's unit of work)."""
        raise NotImplementedError


def document_error(problem: DocumentProblem) -> InvalidInput | PayloadTooLarge:
    """A document problem as the domain error its HTTP status follows from."""
    details: list[dict[str, Any]] = [
        {"field": "file", "message": problem.message, "reason": problem.reason}
    ]
    if problem.reason in ("too_many_bytes", "too_many_pixels"):
        return PayloadTooLarge(problem.message, details=details)
    return InvalidInput(problem.message, details=details)


def join_text(lines: list[OcrLine], numbers: list[int]) -> str:
    """Lines joined by newlines, pages (in the order read) by a form feed."""
    by_page: dict[int, list[str]] = {number: [] for number in numbers}
    for line in lines:
        by_page.setdefault(line.page, []).append(line.text)
    return "\f".join("\n".join(texts) for texts in by_page.values())


class EnginePool:
    """Idle engines by key (an OCR engine is not thread-safe, and costly to build): a
    thread takes one, or builds one when none is idle, and gives it back after use. So
    there are at most as many engines per key as threads that ever used it at once, and
    the engines built at warm-up serve the first requests of every batcher thread."""

    def __init__(self) -> None:
        self._idle: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.built = 0

    @contextlib.contextmanager
    def engine(self, key: str, build: Callable[[], Any]) -> Iterator[Any]:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            engine = idle.pop() if idle else None
        if engine is None:
            engine = build()
            with self._lock:
                self.built += 1
        try:
            yield engine
        finally:
            with self._lock:
                self._idle[key].append(engine)
