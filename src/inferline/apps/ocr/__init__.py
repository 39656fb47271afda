"""Source S1 (OCR serving): read a document now, or queue it as a job whose upload waits
in the blob store."""

from inferline.apps.ocr.routes import router

__all__ = ["router"]
