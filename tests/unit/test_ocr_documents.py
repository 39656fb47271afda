"""Source S1, domain level: what a document may be, and how its pages are decoded."""

from __future__ import annotations

import pytest
from PIL import Image

from inferline.core.documents import (
    DocumentLimits,
    DocumentProblem,
    inspect,
    load_pages,
    parse_pages,
)
from inferline.domain.errors import InvalidInput, PayloadTooLarge
from inferline.ports.ocr import document_error
from inferline.testing.documents import cer, encode, render

LIMITS = DocumentLimits(max_bytes=200_000, max_pixels=2_000_000, max_pages=3, pdf_dpi=100)


def reason(data: bytes, limits: DocumentLimits = LIMITS, pages: list[int] | None = None) -> str:
    with pytest.raises(DocumentProblem) as caught:
        load_pages(data, limits, pages)
    return caught.value.reason


def test_each_format_decodes_to_its_pages() -> None:
    page = render(["hello"])
    for fmt in ("PNG", "JPEG"):
        [decoded] = load_pages(encode([page], fmt), LIMITS)
        assert decoded.size == page.size
    tiff = encode([page, render(["two"]), render(["three"])], "TIFF")
    assert [p.size for p in load_pages(tiff, LIMITS, [3, 1])] == [render(["three"]).size, page.size]
    pdf = encode([page, page], "PDF")
    info = inspect(pdf, LIMITS, [2])
    assert (info.format, info.page_count, info.pages) == ("pdf", 2, [2])
    [rendered] = load_pages(pdf, LIMITS, [2])
    assert rendered.mode == "L"
    assert rendered.width == pytest.approx(page.width / 2, abs=2)  # drawn at 200 dpi, read at 100


def test_limits_and_bad_files_name_their_reason() -> None:
    page = render(["hello"])
    assert reason(b"x" * (LIMITS.max_bytes + 1)) == "too_many_bytes"
    assert reason(encode([Image.new("L", (2000, 1001), 255)])) == "too_many_pixels"
    assert reason(encode([page] * 4, "PDF")) == "too_many_pages"
    assert reason(encode([page] * 2, "PDF"), pages=[3]) == "bad_pages"
    assert reason(b"GIF89a not supported") == "unsupported"
    assert reason(b"") == "corrupt"  # empty
    assert reason(encode([page])[:60]) == "corrupt"  # truncated PNG
    assert reason(b"%PDF-1.7 garbage") == "corrupt"
    good = encode([page], "JPEG")
    assert reason(good[:200]) == "corrupt"


def test_page_ranges() -> None:
    assert parse_pages(None) is None
    assert parse_pages(" ") is None
    assert parse_pages("1-3,5") == [1, 2, 3, 5]
    for bad in ("0", "3-1", "a", "1-b", "-2"):
        with pytest.raises(DocumentProblem):
            parse_pages(bad)


def test_size_problems_are_413_and_the_rest_422() -> None:
    assert isinstance(document_error(DocumentProblem("too_many_pixels", "m")), PayloadTooLarge)
    assert isinstance(document_error(DocumentProblem("too_many_bytes", "m")), PayloadTooLarge)
    for name in ("too_many_pages", "corrupt", "unsupported", "bad_pages"):
        assert isinstance(document_error(DocumentProblem(name, "m")), InvalidInput)


def test_character_error_rate() -> None:
    assert cer("abcd", "abcd") == 0
    assert cer("abcd", "abed") == 0.25
    assert cer("a  b\n", "a b") == 0
