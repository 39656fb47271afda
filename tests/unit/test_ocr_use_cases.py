"""Source S1's use cases on the embedded adapters (SQLite, a blob folder, Tesseract in
process): read now, queue a job that references its blob, refuse bad files without a
trace, and remove a blob with its job's retention."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inferline.apps.ocr.service import OcrApp, SweepConfig
from inferline.apps.ocr.use_cases import OcrRequest, queue_job, read_now
from inferline.bootstrap import Container, Role, build_container
from inferline.core.documents import DocumentLimits
from inferline.core.settings import Settings
from inferline.domain.errors import InvalidInput, NotFound, PayloadTooLarge
from inferline.domain.jobs import Job, JobStatus
from inferline.models.moving_average import MovingAverage
from inferline.models.ocr_tesseract import TesseractOCR
from inferline.runtime.registry import ModelRegistry
from inferline.testing.clock import FakeClock
from inferline.testing.documents import ENGLISH_LINES, encode, png, render
from inferline.testing.polling import poll_until_async

LIMITS = DocumentLimits(max_bytes=500_000, max_pixels=4_000_000, max_pages=2)


@pytest.fixture
async def container(db_url: str, tmp_path: Path) -> AsyncIterator[Container]:
    settings = Settings(
        database_url=db_url,
        blob_path=str(tmp_path / "blobs"),
        ocr_max_file_bytes=LIMITS.max_bytes,
        ocr_max_pixels=LIMITS.max_pixels,
        ocr_max_pages=LIMITS.max_pages,
    )
    roles = frozenset({Role.API, Role.WORKER, Role.RELAY})
    registry = ModelRegistry([TesseractOCR, MovingAverage])
    container = build_container(settings, roles, registry=registry)
    await container.start()
    await container.wait_until_loaded()
    yield container
    await container.stop()


def ocr_of(container: Container) -> OcrApp:
    service = container.app_services["ocr"]
    assert isinstance(service, OcrApp)
    return service


def blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".check" not in p.parts]


async def finished(container: Container, job_id: str) -> Job:
    async def read() -> Job:
        return await container.plane.get_job("default", job_id)

    job: Job = await poll_until_async(
        read, f"job {job_id} finished", timeout=30, accept=lambda job: job.status.is_terminal
    )
    return job


async def test_read_now_and_as_a_job(container: Container, tmp_path: Path) -> None:
    plane, ocr = container.plane, ocr_of(container)
    request = OcrRequest(png(ENGLISH_LINES[:2]), "tesseract", "eng", None, "scan.png")
    output, served, elapsed = await read_now(plane, request, ocr.limits)
    assert output["text"] == "\n".join(ENGLISH_LINES[:2])
    assert served.name == "ocr-tesseract"
    assert elapsed > 0
    assert blob_files(tmp_path / "blobs") == []  # a synchronous read stores nothing

    pdf = encode([render(ENGLISH_LINES[:1]), render(ENGLISH_LINES[1:2])], "PDF")
    job = await queue_job(
        plane,
        ocr.blobs,
        OcrRequest(pdf, "ocr-tesseract", "eng", [2], "a.pdf"),
        "default",
        ocr.limits,
    )
    [stored] = blob_files(tmp_path / "blobs")
    assert job.input["blob"] == stored.relative_to(tmp_path / "blobs").as_posix()
    assert job.id in job.input["blob"]
    assert "image" not in job.input
    assert job.metadata == {"filename": "a.pdf", "format": "pdf", "bytes": len(pdf), "pages": 1}
    done = await finished(container, job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.result is not None
    assert done.result["text"] == ENGLISH_LINES[1]
    assert done.result["pages"] == 1


async def test_bad_files_change_nothing(container: Container, tmp_path: Path) -> None:
    plane, ocr = container.plane, ocr_of(container)
    before = await plane.list_jobs("default")
    cases: list[tuple[OcrRequest, type[Exception], str]] = [
        (
            OcrRequest(b"\x89PNG\r\n\x1a\nbroken", "ocr-tesseract", "eng", None),
            InvalidInput,
            "cannot be decoded",
        ),
        (OcrRequest(b"plain text", "ocr-tesseract", "eng", None), InvalidInput, "not a PNG"),
        (OcrRequest(b"x" * 600_000, "ocr-tesseract", "eng", None), PayloadTooLarge, "bytes"),
        (
            OcrRequest(encode([render(["a"])] * 3, "PDF"), "ocr-tesseract", "eng", None),
            InvalidInput,
            "at most 2",
        ),
        (
            OcrRequest(encode([render(["a"]).resize((2100, 2000))]), "ocr-tesseract", "eng", None),
            PayloadTooLarge,
            "pixels",
        ),
        (OcrRequest(png(["a"]), "moving-average", "eng", None), InvalidInput, "not an OCR model"),
        (OcrRequest(png(["a"]), "nope", "eng", None), NotFound, "not found"),
    ]
    for request, error, message in cases:
        with pytest.raises(error, match=message):
            await queue_job(plane, ocr.blobs, request, "default", ocr.limits)
        if error is not NotFound:
            with pytest.raises(error, match=message):  # the model says the same
                await read_now(plane, request, ocr.limits)
    assert await plane.list_jobs("default") == before
    assert blob_files(tmp_path / "blobs") == []


async def test_a_blob_goes_with_its_job(tmp_path: Path, db_url: str) -> None:
    """The sweep removes a blob once its job is gone (pruned), never before; orphans
    (no job ever committed) go after the grace period."""
    clock = FakeClock(start=time.time())
    settings = Settings(
        database_url=db_url, blob_path=str(tmp_path / "blobs"), job_retention_seconds=60
    )
    container = build_container(
        settings,
        frozenset({Role.API, Role.WORKER}),
        registry=ModelRegistry([TesseractOCR]),
        clock=clock,
    )
    await container.start()
    await container.wait_until_loaded()
    try:
        ocr = ocr_of(container)
        request = OcrRequest(png(ENGLISH_LINES[:1]), "ocr-tesseract", "eng", None)
        job = await queue_job(container.plane, ocr.blobs, request, "default", ocr.limits)
        await finished(container, job.id)
        orphan = f"ocr/default/{job.id[:-4]}ffff/{'0' * 32}"
        ocr.blobs.put(orphan, b"left behind by a crash")
        assert await ocr.sweep_once() == 0  # young: nothing is looked up
        clock.advance(2 * 3600)
        assert await ocr.sweep_once() == 1  # the orphan; the job still exists
        assert [p.name for p in blob_files(tmp_path / "blobs")] == [
            job.input["blob"].split("/")[-1]
        ]
        assert await container.store.prune(3600, 60) >= 1  # the retention removes the job
        assert await ocr.sweep_once() == 1
        assert blob_files(tmp_path / "blobs") == []
    finally:
        await container.stop()
    assert SweepConfig(None).every_seconds == 600.0
