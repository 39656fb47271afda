"""Source S1 through a real `inferline serve` (smoke level): OCR now and as a job, bad
uploads, the strategy in `/api/v1/models`, `scripts/smoke_test.sh`, and the failures of
docs/RUNBOOK.md that can be made here (blob store unwritable, a model that cannot load)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.testing.documents import ENGLISH_LINES, encode, png, render
from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, free_port, http_server, sqlite_url, wait_for_job
from tests.support.servers import metric_value

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "scripts" / "smoke_test.sh"
OCR_PLUGINS = "inferline.models.ocr_tesseract:TesseractOCR,inferline.models.ocr_rapid:RapidOCR"


def ocr_server(tmp: Path, **settings: str) -> ServerProcess:
    return http_server(
        "serve",
        sqlite_url(tmp / "jobs.db"),
        tmp / "server.log",
        models=settings.pop("models", "ocr-tesseract,ocr-rapid"),
        model_plugins=OCR_PLUGINS,  # also found by entry point once the package is installed
        blob_path=str(tmp / "blobs"),
        **settings,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("ocr")
    process = ocr_server(tmp, profile="batched", ocr_max_pages="2", ocr_max_pixels="4000000")
    process.start().wait_ready()
    yield process
    process.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def upload(data: bytes, name: str = "page.png", **fields: str) -> dict[str, Any]:
    return {"files": {"file": (name, data)}, "data": fields}


def test_ocr_now_and_as_a_job(client: httpx.Client, server: ServerProcess) -> None:
    now = client.post("/api/v1/ocr", **upload(png(ENGLISH_LINES[:2])))
    assert now.status_code == 200, now.text
    body = now.json()
    assert body["text"] == "\n".join(ENGLISH_LINES[:2])
    assert (body["model"], body["model_version"], body["pages"]) == ("ocr-tesseract", "5", 1)
    assert body["timing_ms"] > 0
    assert set(body["lines"][0]) == {"text", "confidence", "box", "page"}

    rapid = client.post("/api/v1/ocr", **upload(png(ENGLISH_LINES[:1]), model="ocr-rapid"))
    assert rapid.status_code == 200, rapid.text
    assert rapid.json()["text"] == ENGLISH_LINES[0]

    pdf = encode([render(ENGLISH_LINES[:1]), render(ENGLISH_LINES[1:2])], "PDF")
    queued = client.post("/api/v1/ocr/jobs", **upload(pdf, "two.pdf", pages="2"))
    assert queued.status_code == 202, queued.text
    accepted = queued.json()
    assert queued.headers["location"] == accepted["result_url"]
    job = wait_for_job(client, accepted["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["text"] == ENGLISH_LINES[1]
    assert set(job["input"]) == {"blob", "lang", "pages", "layout"}  # a key, not the image
    assert job["input"]["pages"] == [2]
    blob = Path(server.env["INFERLINE_BLOB_PATH"]) / job["input"]["blob"]
    assert blob.read_bytes() == pdf

    def uploads() -> int:
        return sum(1 for path in blob.parents[2].rglob("*") if path.is_file())

    before = uploads()
    first = client.post("/api/v1/ocr/jobs", **upload(png(["again"]), idempotency_key="k-1"))
    second = client.post("/api/v1/ocr/jobs", **upload(png(["again"]), idempotency_key="k-1"))
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]
    assert uploads() == before + 1  # the second upload was dropped


def test_bad_uploads_get_a_reason_and_change_nothing(client: httpx.Client) -> None:
    before = client.get("/api/v1/jobs").json()["jobs"]
    page = render(["x"])
    cases = [
        (upload(b"\x89PNG\r\n\x1a\n truncated"), 422, "cannot be decoded"),
        (upload(b"%PDF-1.4 nonsense", "x.pdf"), 422, "PDF cannot be opened"),
        (upload(b"just text", "x.txt"), 422, "not a PNG, JPEG, TIFF or PDF"),
        (upload(encode([page] * 3, "PDF"), "x.pdf"), 422, "at most 2"),
        (upload(encode([page] * 2, "PDF"), "x.pdf", pages="5"), 422, "does not exist"),
        (upload(png(["x"]), pages="2-1"), 422, "ranges go upwards"),
        (upload(encode([page.resize((2100, 2000))])), 413, "pixels"),
        (upload(png(["x"]), lang="fra"), 422, "lang"),
        (upload(png(["x"]), model="ocr-rapid", lang="kor"), 422, "does not read 'kor'"),
        (upload(png(["x"]), model="nope"), 404, "not found"),
        ({"data": {"lang": "eng"}}, 422, "file"),
    ]
    for request, status, message in cases:
        for path in ("/api/v1/ocr", "/api/v1/ocr/jobs"):
            answer = client.post(path, **request)
            assert answer.status_code == status, (path, message, answer.text)
            assert message in answer.text, (path, answer.text)
    assert client.get("/api/v1/jobs").json()["jobs"] == before


def test_the_models_show_the_active_strategy(client: httpx.Client) -> None:
    models = {m["name"]: m for m in client.get("/api/v1/models").json()["models"]}
    for name in ("ocr-tesseract", "ocr-rapid"):
        batching = models[name]["batching"]
        assert batching["profile"] == "batched"
        assert batching["strategy"] == "batched"
        assert batching["max_batch_size"] > 1


def test_the_smoke_script_passes_live_and_names_a_stopped_server(server: ServerProcess) -> None:
    live = subprocess.run([str(SMOKE), server.url], capture_output=True, text=True, timeout=120)
    assert live.returncode == 0, live.stdout + live.stderr
    assert "[readiness]" in live.stdout
    assert "all checks passed" in live.stdout
    stopped = subprocess.run(
        [str(SMOKE), f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60
    )
    assert stopped.returncode == 10, stopped.stdout + stopped.stderr
    assert "FAIL [health]" in stopped.stderr
    usage = subprocess.run([str(SMOKE), "localhost"], capture_output=True, text=True, timeout=10)
    assert usage.returncode == 2


def test_unwritable_blob_store_is_503_and_named_then_recovers(
    client: httpx.Client, server: ServerProcess
) -> None:
    """RUNBOOK "Disk full for blobs": jobs get 503 naming the blob store and /readyz names
    `ocr`; synchronous OCR goes on; once the folder is writable again, all is back."""
    folder = Path(server.env["INFERLINE_BLOB_PATH"])
    saved = folder.with_name("blobs-saved")
    folder.rename(saved)
    folder.write_text("a file where the blob folder should be: writes fail (ENOTDIR)")
    try:
        refused = client.post("/api/v1/ocr/jobs", **upload(png(["x"])))
        assert refused.status_code == 503, refused.text
        assert "blob store" in refused.json()["error"]["message"]
        not_ready = poll_until(
            lambda: client.get("/readyz"),
            "/readyz names the blob store",
            timeout=30,
            accept=lambda r: r.status_code == 503 and "ocr:" in r.text,
        )
        assert "blob store" in not_ready.text
        metrics = client.get("/metrics").text  # what InferlineDependencyDown alerts on
        assert metric_value(metrics, "inferline_dependency_up", dependency="ocr") == 0
        assert metric_value(metrics, "inferline_dependency_up", dependency="database") == 1
        assert client.post("/api/v1/ocr", **upload(png(ENGLISH_LINES[:1]))).status_code == 200
    finally:
        folder.unlink()
        saved.rename(folder)
    poll_until(
        lambda: client.get("/readyz"), "ready again", timeout=30, accept=lambda r: r.is_success
    )
    again = client.post("/api/v1/ocr/jobs", **upload(png(ENGLISH_LINES[:1])))
    assert again.status_code == 202
    assert wait_for_job(client, again.json()["job_id"])["status"] == "succeeded"


def test_a_model_that_cannot_load_is_named_until_fixed(tmp_path: Path) -> None:
    """RUNBOOK "Model fails to load": broken tessdata → /readyz names the model and its
    error, OCR answers 503; fixed and restarted → ready."""
    broken = tmp_path / "tessdata"
    broken.mkdir()
    (broken / "eng.traineddata").write_bytes(b"not a traineddata file")
    process = ocr_server(tmp_path, models="ocr-tesseract")
    process.env["TESSDATA_PREFIX"] = str(broken)
    process.start()
    try:
        with httpx.Client(base_url=process.url, timeout=30) as client:
            answer = poll_until(
                lambda: client.get("/readyz"),
                "/readyz names the model",
                timeout=120,
                accept=lambda r: "ocr-tesseract: failed to load" in r.text,
            )
            assert answer.status_code == 503
            refused = client.post("/api/v1/ocr", **upload(png(["x"])))
            assert refused.status_code == 503, refused.text
            metrics = client.get("/metrics").text  # what InferlineModelNotLoaded alerts on
            assert metric_value(metrics, "inferline_model_loaded", model="ocr-tesseract") == 0
    finally:
        process.stop()
    shutil.rmtree(broken)
    process.env.pop("TESSDATA_PREFIX")
    process.start().wait_ready()
    process.stop()
