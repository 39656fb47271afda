"""Source S1's routes: `POST /api/v1/ocr` (now) and `POST /api/v1/ocr/jobs` (queued; the
result is the job's, at `GET /api/v1/jobs/{id}`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile

from inferline.api.deps import PlaneDep, TenantDep
from inferline.api.disconnect import unless_disconnected
from inferline.api.errors import error_responses
from inferline.apps.ocr.schemas import OcrJobAccepted, OcrResponse
from inferline.apps.ocr.service import OcrApp
from inferline.apps.ocr.use_cases import OcrRequest, queue_job, read_now
from inferline.core.documents import DocumentProblem, parse_pages
from inferline.domain.errors import PayloadTooLarge, Unavailable
from inferline.ports.ocr import document_error

router = APIRouter(
    prefix="/api/v1/ocr",
    tags=["source S1: OCR"],
    responses=error_responses(400, 404, 413, 422, 503),
)

Lang = Literal["eng", "kor", "eng+kor"]


async def get_ocr(request: Request) -> OcrApp:
    """The process's OCR service (blob store, limits)."""
    ocr: OcrApp | None = getattr(request.app.state, "ocr", None)
    if ocr is None:
        raise Unavailable("this process serves no OCR model (see INFERLINE_MODELS)")
    return ocr


OcrDep = Annotated[OcrApp, Depends(get_ocr)]
FileField = Annotated[UploadFile, File(description="PNG, JPEG, TIFF or PDF.")]
ModelField = Annotated[str, Form(min_length=1, max_length=128)]
LangField = Annotated[Lang, Form(description="eng, kor or eng+kor.")]
KeyField = Annotated[
    str | None,
    Form(
        min_length=1,
        max_length=200,
        description="Resubmitting with the same key returns the first job, uploads nothing.",
    ),
]
PagesField = Annotated[
    str | None, Form(max_length=200, description="PDF/TIFF pages, e.g. `1-3,5`; default all.")
]


async def ocr_form(
    ocr: OcrDep,
    file: FileField,
    model: ModelField = "ocr-tesseract",
    lang: LangField = "eng",
    pages: PagesField = None,
) -> OcrRequest:
    """The form both routes take, as a request: the file read up to its limit, the pages
    parsed (413/422 here, before anything is read by a model or stored)."""
    limit = ocr.limits.max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"the file is larger than {limit} bytes",
            details=[{"field": "file", "reason": "too_many_bytes"}],
        )
    try:
        page_list = parse_pages(pages)
    except DocumentProblem as exc:
        raise document_error(exc) from None
    return OcrRequest(data, model, lang, page_list, file.filename)


OcrForm = Annotated[OcrRequest, Depends(ocr_form)]


@router.post("", summary="Read a document now (source S1)", responses=error_responses(429))
async def ocr_now(
    plane: PlaneDep, tenant: TenantDep, ocr: OcrDep, form: OcrForm, request: Request
) -> OcrResponse:
    """OCR through the model's micro-batcher, ahead of its queued jobs; a client that
    leaves before its pages were read takes them out of the batcher (499)."""
    del tenant  # every route is a tenant's; a synchronous read stores nothing of it
    output, served, elapsed_ms = await unless_disconnected(
        request, read_now(plane, form, ocr.limits)
    )
    return OcrResponse(
        text=output["text"],
        lines=output["lines"],
        pages=output["pages"],
        model=served.name,
        model_version=served.model_class.version,
        timing_ms=round(elapsed_ms, 2),
    )


@router.post(
    "/jobs",
    status_code=202,
    summary="Queue a document (source S1)",
    responses=error_responses(429),
)
async def ocr_job(
    plane: PlaneDep,
    tenant: TenantDep,
    ocr: OcrDep,
    request: OcrForm,
    response: Response,
    idempotency_key: KeyField = None,
) -> OcrJobAccepted:
    """Checked now (413/422 on a bad file); read by a worker; the result is the job's."""
    request = replace(request, idempotency_key=idempotency_key)
    job = await queue_job(plane, ocr.blobs, request, tenant, ocr.limits)
    url = f"/api/v1/jobs/{job.id}"
    response.headers["Location"] = url
    return OcrJobAccepted(job_id=job.id, status=job.status.value, model=job.model, result_url=url)
