"""RapidOCR (`ocr-rapid`): PP-OCR detection and recognition on ONNX Runtime, from the
`rapidocr` wheel (its models ship inside it; nothing is downloaded).

Each page is detected on its own (text boxes), then the line crops of every page of
every document in the batch go to the recognition network together, in sub-batches
of `rec_batch`: this is where micro-batching pays. The detector is told not to
upscale small pages (its default scales the short side up to 736 px, 1-2 s a line).
The wheel ships Latin/Chinese recognition only, so this model reads `eng`.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from inferline.core.documents import Page, page_number
from inferline.ports.ocr import OcrInput, OcrLine, OcrModel

MIN_SCORE = 0.5  # RapidOCR's own text_score: lines below it are dropped


class RapidOCR(OcrModel):
    """PP-OCR (RapidOCR, ONNX Runtime) detection + batched line recognition, English."""

    name = "ocr-rapid"
    version = "3.10-ppocrv6"
    description = (
        "RapidOCR PP-OCRv6 detection and recognition on ONNX Runtime; the line crops of a "
        "whole micro-batch are recognised together. lang eng."
    )
    aliases = ("rapidocr",)
    languages = ("eng",)
    max_batch_size = 8
    max_wait_ms = 10.0
    instances = 1
    batching_profiles = {
        "standard": {"max_batch_size": 1, "instances": 1},
        "batched": {"max_batch_size": 8, "max_wait_ms": 10.0, "instances": 1},
    }

    def __init__(self, *args: Any, rec_batch: int = 32, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rec_batch = rec_batch
        self._engine: Any = None
        self._lock = threading.Lock()

    @classmethod
    def missing_requirements(cls) -> str | None:
        try:
            import rapidocr  # noqa: F401
        except ImportError:
            return "the rapidocr package is not installed"
        return None

    def load(self) -> None:
        from rapidocr import RapidOCR as Engine

        self._engine = Engine(
            params={
                "Global.log_level": "error",
                "Global.use_cls": False,
                "Det.limit_type": "max",
                "Det.limit_side_len": 1280,
                "Rec.rec_batch_num": self.rec_batch,
                "EngineConfig.onnxruntime.intra_op_num_threads": 1 if self.instances > 1 else -1,
            }
        )

    def warmup(self) -> None:
        from PIL import Image, ImageDraw

        image = Image.new("L", (200, 48), 255)
        ImageDraw.Draw(image).text((8, 16), "warm up", fill=0)
        self.read_documents([[image]], [OcrInput(image=b"-", lang="eng")])

    def read_documents(
        self, documents: list[list[Page]], inputs: list[OcrInput]
    ) -> list[list[OcrLine]]:
        engine = self._engine
        if engine is None:
            raise RuntimeError("RapidOCR.load() must be called before predict_batch()")
        crops: list[np.ndarray] = []
        owners: list[tuple[int, int, list[int]]] = []  # (document, page, box) of each crop
        for doc_index, pages in enumerate(documents):
            for page in pages:
                for crop, box in self._detect(engine, page):
                    crops.append(crop)
                    owners.append((doc_index, page_number(page), box))
        found: list[list[OcrLine]] = [[] for _ in documents]
        if not crops:
            return found
        result = engine.recognize_txt(crops)  # one call: the batch's every line
        for (doc_index, number, box), text, score in zip(
            owners, result.txts, result.scores, strict=True
        ):
            if score < MIN_SCORE or not text.strip():
                continue
            found[doc_index].append(
                OcrLine(text=text.strip(), confidence=round(float(score), 4), box=box, page=number)
            )
        return found

    def _detect(self, engine: Any, page: Page) -> list[tuple[np.ndarray, list[int]]]:
        from rapidocr.main import RapidOCRError
        from rapidocr.utils.process_img import map_boxes_to_original

        array = np.asarray(page.convert("RGB"))
        image, record = engine.preprocess_img(array)
        try:
            crops, detected = engine.detect_and_crop(image, record)
        except RapidOCRError:  # nothing detected on the page
            return []
        boxes = map_boxes_to_original(detected.boxes, record, array.shape[0], array.shape[1])
        out = []
        for crop, quad in zip(crops, boxes, strict=True):
            xs, ys = quad[:, 0], quad[:, 1]
            box = [int(xs.min()), int(ys.min()), int(np.ceil(xs.max())), int(np.ceil(ys.max()))]
            out.append((crop, box))
        # reading order: top to bottom, then left to right
        out.sort(key=lambda pair: (pair[1][1] // 10, pair[1][0]))
        return out
