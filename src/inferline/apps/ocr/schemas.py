"""Source S1's response bodies (the requests are multipart forms: see routes.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class OcrLineBody(BaseModel):
    text: str
    confidence: float = Field(description="0 to 1.")
    box: list[int] = Field(description="[x0, y0, x1, y1] in pixels of the page.")
    page: int = Field(description="The line's page: its 1-based number in the document.")


class OcrResponse(BaseModel):
    """What `POST /api/v1/ocr` answers."""

    text: str = Field(description="The lines joined by newlines; pages by a form feed.")
    lines: list[OcrLineBody]
    pages: int
    model: str
    model_version: str
    timing_ms: float = Field(description="Time on the server: checks, queueing and OCR.")


class OcrJobAccepted(BaseModel):
    """What `POST /api/v1/ocr/jobs` answers (202): read the result at `result_url`."""

    job_id: str
    status: str
    model: str
    result_url: str
