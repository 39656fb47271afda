"""Documents for OCR: sniff the format, check the limits, decode the pages.

PNG, JPEG, TIFF (every frame a page) and PDF (rendered with PDFium at `pdf_dpi`).
Everything that can go wrong with a client's file is a `DocumentProblem` with a
`reason` (`too_many_bytes`, `too_many_pixels`, `too_many_pages`, `bad_pages`,
`unsupported`, `corrupt`); callers turn it into their own error (413 or 422).
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageSequence

Format = Literal["png", "jpeg", "tiff", "pdf"]
Page = Image.Image

_PDF_LOCK = threading.Lock()  # PDFium is not thread-safe: one call at a time per process


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """What one document may be: bytes, pixels per page, pages read, and the PDF DPI."""

    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_pages: int = 20
    pdf_dpi: int = 200


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A checked document: its format, how many pages it has, which are read."""

    format: Format
    page_count: int
    pages: list[int]


class DocumentProblem(ValueError):
    """The file cannot be read as a document within the limits."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def sniff(data: bytes) -> Format:
    """The format from the file's first bytes (never from its name or content type)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if data.lstrip()[:5] == b"%PDF-":
        return "pdf"
    raise DocumentProblem("unsupported", "the file is not a PNG, JPEG, TIFF or PDF document")


def parse_pages(spec: str | None) -> list[int] | None:
    """`"1-3,5"` as [1, 2, 3, 5] (1-based, in the order given); None or blank: every page."""
    if spec is None or not spec.strip():
        return None
    pages: list[int] = []
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            start = int(first)
            end = int(last) if dash else start
        except ValueError:
            raise DocumentProblem(
                "bad_pages", f"pages {spec!r}: use page numbers and ranges like 1-3,5"
            ) from None
        if start < 1 or end < start:
            raise DocumentProblem(
                "bad_pages", f"pages {spec!r}: pages count from 1 and ranges go upwards"
            )
        if end - start > 10_000:
            raise DocumentProblem("bad_pages", f"pages {spec!r}: range too long")
        pages.extend(range(start, end + 1))
    return pages


def inspect(data: bytes, limits: DocumentLimits, pages: list[int] | None = None) -> DocumentInfo:
    """Check a document without keeping its pixels: format, limits, pages; every page
    read is decoded once, so a truncated or corrupt file is found here."""
    load_pages(data, limits, pages)
    fmt = sniff(data)
    count = _page_count(data, fmt)
    return DocumentInfo(fmt, count, _selected(pages, count, limits))


def load_pages(data: bytes, limits: DocumentLimits, pages: list[int] | None = None) -> list[Page]:
    """The pages to read, decoded (grayscale or RGB), within the limits; each knows its
    1-based number in the document (`page_number(page)`)."""
    if len(data) > limits.max_bytes:
        raise DocumentProblem(
            "too_many_bytes", f"the file has {len(data)} bytes; the limit is {limits.max_bytes}"
        )
    if not data:
        raise DocumentProblem("corrupt", "the file is empty")
    fmt = sniff(data)
    if fmt == "pdf":
        return _pdf_pages(data, limits, pages)
    return _image_pages(data, fmt, limits, pages)


def page_number(page: Page) -> int:
    """The page's 1-based number in its document."""
    return int(page.info.get("page_number", 1))


def _numbered(page: Page, number: int) -> Page:
    page.info["page_number"] = number
    return page


def _selected(pages: list[int] | None, count: int, limits: DocumentLimits) -> list[int]:
    wanted = pages if pages is not None else list(range(1, count + 1))
    beyond = [p for p in wanted if p > count]
    if beyond:
        raise DocumentProblem(
            "bad_pages", f"page {beyond[0]} does not exist: the document has {count} page(s)"
        )
    if len(wanted) > limits.max_pages:
        raise DocumentProblem(
            "too_many_pages",
            f"{len(wanted)} pages asked for; at most {limits.max_pages} per document "
            "(choose some with `pages`, e.g. 1-5)",
        )
    return wanted


def _check_pixels(width: int, height: int, page: int, limits: DocumentLimits) -> None:
    if width * height > limits.max_pixels:
        raise DocumentProblem(
            "too_many_pixels",
            f"page {page} is {width}x{height} = {width * height} pixels; "
            f"the limit is {limits.max_pixels}",
        )


def _image_pages(
    data: bytes, fmt: Format, limits: DocumentLimits, pages: list[int] | None
) -> list[Page]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            frames = getattr(image, "n_frames", 1) if fmt == "tiff" else 1
            wanted = _selected(pages if fmt == "tiff" else None, frames, limits)
            out: list[Page] = []
            for index, frame in enumerate(ImageSequence.Iterator(image), start=1):
                if index not in wanted:
                    continue
                _check_pixels(frame.width, frame.height, index, limits)
                frame.load()
                out.append(_numbered(_normalised(frame), index))
            by_number = dict(zip(sorted(set(wanted)), out, strict=False))
            return [by_number[p] for p in wanted]
    except DocumentProblem:
        raise
    except Image.DecompressionBombError as exc:
        raise DocumentProblem("too_many_pixels", f"the image has too many pixels: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError, KeyError, IndexError) as exc:
        raise DocumentProblem(
            "corrupt", f"the {fmt.upper()} image cannot be decoded: {exc}"
        ) from None


def _normalised(frame: Image.Image) -> Page:
    if frame.mode in ("L", "RGB"):
        return frame.copy()
    if frame.mode in ("1", "I;16", "I", "F", "P", "LA", "PA") and "A" not in frame.mode:
        return frame.convert("L")
    return frame.convert("RGB")


def _pdf_pages(data: bytes, limits: DocumentLimits, pages: list[int] | None) -> list[Page]:
    import pypdfium2

    scale = limits.pdf_dpi / 72
    with _PDF_LOCK:
        try:
            document = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            raise DocumentProblem("corrupt", f"the PDF cannot be opened: {exc}") from None
        try:
            wanted = _selected(pages, len(document), limits)
            out: list[Page] = []
            for number in wanted:
                page = document[number - 1]
                width, height = page.get_size()
                _check_pixels(round(width * scale), round(height * scale), number, limits)
                bitmap = page.render(scale=scale, grayscale=True)
                out.append(_numbered(bitmap.to_pil().convert("L"), number))
            return out
        except pypdfium2.PdfiumError as exc:
            raise DocumentProblem("corrupt", f"the PDF cannot be rendered: {exc}") from None
        finally:
            document.close()


def _page_count(data: bytes, fmt: Format) -> int:
    if fmt == "pdf":
        import pypdfium2

        with _PDF_LOCK:
            document = pypdfium2.PdfDocument(data)
            try:
                return len(document)
            finally:
                document.close()
    if fmt == "tiff":
        with Image.open(io.BytesIO(data)) as image:
            return int(getattr(image, "n_frames", 1))
    return 1
