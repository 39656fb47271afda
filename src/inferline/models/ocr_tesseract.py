"""Tesseract 5 OCR (`ocr-tesseract`): libtesseract from the `tesserocr` wheel, reading the
system's tessdata (Debian `tesseract-ocr-eng`, `tesseract-ocr-kor`).

Engines are expensive to build (~0.1-0.5 s) and not thread-safe, so they are pooled
per language and layout: a batch takes an idle one (or builds one) and gives it back;
the warm-up builds one of each language, so first requests do not pay for it.
`OMP_THREAD_LIMIT=1` is set before libtesseract loads: its OpenMP threads make a small
page 4-10x slower on few cores. Parallelism comes from the batcher instead: the
`batched` profile runs several batches at once, one engine each (tesserocr releases
the GIL while it recognises).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from inferline.core.documents import Page, page_number
from inferline.ports.ocr import EnginePool, OcrInput, OcrLine, OcrModel

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)


def tessdata_dir() -> str | None:
    """Where the traineddata files are: TESSDATA_PREFIX, else the usual system folders."""
    candidates = [os.environ.get("TESSDATA_PREFIX", ""), *TESSDATA_DIRS]
    for folder in candidates:
        if folder and (Path(folder) / "eng.traineddata").exists():
            return folder
    return None


class TesseractOCR(OcrModel):
    """Tesseract 5 LSTM OCR, lines with confidence and box, English and Korean."""

    name = "ocr-tesseract"
    version = "5"
    description = (
        "Tesseract 5 (LSTM) OCR through libtesseract: PNG, JPEG, TIFF or PDF pages; "
        "lang eng, kor or eng+kor; one engine per thread, reused."
    )
    aliases = ("tesseract",)
    max_batch_size = 4
    max_wait_ms = 2.0
    instances = 2
    batching_profiles = {
        "standard": {"max_batch_size": 1, "instances": 1},
        "batched": {"max_batch_size": 4, "max_wait_ms": 2.0, "instances": 0},  # 0: the cores
    }

    @classmethod
    def missing_requirements(cls) -> str | None:
        try:
            import tesserocr  # noqa: F401
        except ImportError:
            return "the tesserocr package is not installed"
        if tessdata_dir() is None:
            return "no tessdata folder with eng.traineddata (install tesseract-ocr-eng)"
        return None

    def load(self) -> None:
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before libtesseract starts OpenMP
        import tesserocr

        folder = tessdata_dir()
        if folder is None:
            raise RuntimeError("no tessdata folder with eng.traineddata")
        available = set(tesserocr.get_languages(folder + "/")[1])
        self.languages = tuple(
            lang for lang in ("eng", "kor", "eng+kor") if set(lang.split("+")) <= available
        )
        self._folder = folder
        self._engines = EnginePool()

    def warmup(self) -> None:
        from PIL import Image, ImageDraw

        image = Image.new("L", (160, 40), 255)
        ImageDraw.Draw(image).text((8, 12), "warm up", fill=0)
        for lang in self.languages:
            self._read(image, lang, "block", 1)

    def _build(self, lang: str, layout: str) -> Any:
        import tesserocr

        psm = tesserocr.PSM.SINGLE_BLOCK if layout == "block" else tesserocr.PSM.AUTO
        api = tesserocr.PyTessBaseAPI(path=self._folder + "/", lang=lang, psm=psm)
        # Korean text is spaced by words, not syllables: keep the spaces as printed
        api.SetVariable("preserve_interword_spaces", "1")
        return api

    def read_documents(
        self, documents: list[list[Page]], inputs: list[OcrInput]
    ) -> list[list[OcrLine]]:
        return [
            [
                line
                for page in pages
                for line in self._read(page, item.lang, item.layout, page_number(page))
            ]
            for pages, item in zip(documents, inputs, strict=True)
        ]

    def _read(self, page: Page, lang: str, layout: str, number: int) -> list[OcrLine]:
        import tesserocr

        with self._engines.engine(f"{lang}/{layout}", lambda: self._build(lang, layout)) as api:
            api.SetImage(page)
            api.Recognize()
            # The page's text honours preserve_interword_spaces (the iterator's line text
            # does not: it would space every Hangul syllable); the iterator gives boxes
            # and scores.
            texts = [t.strip() for t in (api.GetUTF8Text() or "").splitlines() if t.strip()]
            level = tesserocr.RIL.TEXTLINE
            found: list[tuple[str, float, list[int]]] = []
            for result in tesserocr.iterate_level(api.GetIterator(), level):
                text = (result.GetUTF8Text(level) or "").strip()
                if text:
                    box = result.BoundingBox(level)
                    conf = result.Confidence(level)
                    found.append((text, conf, list(box) if box else [0, 0, 0, 0]))
            api.Clear()
        if len(texts) == len(found):
            found = [(text, conf, box) for text, (_, conf, box) in zip(texts, found, strict=True)]
        return [
            OcrLine(text=text, confidence=round(conf / 100, 4), box=box, page=number)
            for text, conf, box in found
        ]
