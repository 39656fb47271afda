"""Source S1's use cases: read a document now, or queue it as a job.

A synchronous request carries its bytes to the model inline (never stored). A job's
upload is checked first (format, bytes, pixels, pages: the same rules the model
applies), then put in the blob store under `ocr/<tenant>/<job id>/<random>` and the
job's input holds only that key. When the job cannot be stored the blob is removed
again: bad input changes nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from inferline.application.jobs import SubmitJob
from inferline.core.documents import DocumentLimits, DocumentProblem, inspect
from inferline.domain.errors import InvalidInput, PayloadTooLarge
from inferline.domain.ids import new_job_id
from inferline.domain.jobs import Job
from inferline.ports.blobs import BlobStore
from inferline.ports.ocr import OcrModel, document_error
from inferline.ports.serving import ServedModel


class OcrPlane(Protocol):
    """The slice of the data plane this app calls."""

    def model(self, name: str) -> ServedModel: ...

    async def infer(
        self, model: str, inputs: list[Any], *, field: str = "inputs"
    ) -> list[dict[str, Any]]: ...

    async def submit_job(self, command: SubmitJob) -> tuple[Job, bool]: ...


@dataclass(frozen=True, slots=True)
class OcrRequest:
    """One document and how to read it."""

    data: bytes
    model: str
    lang: str
    pages: list[int] | None
    filename: str | None = None
    idempotency_key: str | None = None


def ocr_model(plane: OcrPlane, request: OcrRequest, limits: DocumentLimits) -> ServedModel:
    """The served OCR model the request names, after the checks that need no decoding."""
    served = plane.model(request.model)
    cls = served.model_class
    if not issubclass(cls, OcrModel):
        raise InvalidInput(
            f"model {cls.name} is not an OCR model",
            details=[{"field": "model", "message": "not an OCR model"}],
        )
    languages = (
        served.instance.languages if isinstance(served.instance, OcrModel) else cls.languages
    )
    if request.lang not in languages:
        raise InvalidInput(
            f"model {cls.name} does not read {request.lang!r}; it reads {list(languages)}",
            details=[{"field": "lang", "message": "unsupported language"}],
        )
    if len(request.data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"the file has {len(request.data)} bytes; the limit is {limits.max_bytes}",
            details=[{"field": "file", "reason": "too_many_bytes"}],
        )
    return served


async def read_now(
    plane: OcrPlane, request: OcrRequest, limits: DocumentLimits
) -> tuple[dict[str, Any], ServedModel, float]:
    """OCR through the model's micro-batcher, ahead of queued jobs: (output, model, ms)."""
    started = time.perf_counter()
    served = ocr_model(plane, request, limits)
    item = {"image": request.data, "lang": request.lang, "pages": request.pages}
    [output] = await plane.infer(served.name, [item], field="file")
    return output, served, (time.perf_counter() - started) * 1000


def blob_key(tenant: str, job_id: str) -> str:
    """Where a job's upload is kept: unguessable (a random part), and naming its job."""
    return f"ocr/{quote(tenant, safe='')}/{job_id}/{secrets.token_hex(16)}"


async def queue_job(
    plane: OcrPlane, blobs: BlobStore, request: OcrRequest, tenant: str, limits: DocumentLimits
) -> Job:
    """Check the document, keep it in the blob store, queue a job that references it."""
    served = ocr_model(plane, request, limits)
    try:
        info = await asyncio.to_thread(inspect, request.data, limits, request.pages)
    except DocumentProblem as exc:
        raise document_error(exc) from None
    job_id = new_job_id()
    key = blob_key(tenant, job_id)
    await asyncio.to_thread(blobs.put, key, request.data)
    command = SubmitJob(
        id=job_id,
        tenant=tenant,
        model=served.name,
        input={"blob": key, "lang": request.lang, "pages": request.pages},
        idempotency_key=request.idempotency_key,
        metadata={
            "filename": (request.filename or "")[:200],
            "format": info.format,
            "bytes": len(request.data),
            "pages": len(info.pages),
        },
    )
    try:
        job, created = await plane.submit_job(command)
    except BaseException:
        await asyncio.to_thread(blobs.delete, key)
        raise
    if not created:  # the key's job exists already, with its own upload
        await asyncio.to_thread(blobs.delete, key)
    return job
