"""Source S1's local stack (API + worker + Redis + MySQL) as real processes: `inferline
api` and `inferline worker` on a private MariaDB database and a Redis key prefix, the
uploads in an S3-compatible bucket (a local moto server). OCR jobs run through it, and a
worker killed in the middle of a job (RUNBOOK "Worker crash") is replaced: the job
completes once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferline.testing import databases as dbs
from inferline.testing.documents import ENGLISH_LINES, encode, png, render
from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import (
    ServerProcess,
    free_port,
    http_server,
    wait_for_job,
    wait_for_live_workers,
    worker_process,
)
from tests.support.requirements import require_server

OCR_PLUGINS = "inferline.models.ocr_tesseract:TesseractOCR,inferline.models.ocr_rapid:RapidOCR"


@pytest.fixture
def mariadb() -> Iterator[str]:
    require_server(dbs.MYSQL)
    require_server(dbs.REDIS)
    name = dbs.unique_name()
    url = asyncio.run(dbs.create_mysql_database(name))
    yield url
    asyncio.run(dbs.drop_mysql_database(name))


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_ocr_jobs_on_mariadb_redis_and_s3_survive_a_worker_crash(
    mariadb: str, s3_endpoint: str, tmp_path: Path
) -> None:
    prefix = dbs.unique_name("inferline-ocr")
    settings = {
        "models": "ocr-tesseract",
        "model_plugins": OCR_PLUGINS,
        "profile": "standard",
        "queue_url": dbs.redis_url(),
        "events_url": dbs.redis_url(),
        "redis_prefix": prefix,
        "lease_seconds": "3",
        "queue_reclaim_idle_seconds": "4",
        "queue_sweep_seconds": "1",
        "blob_store": "s3",
        "s3_endpoint_url": s3_endpoint,
        "s3_bucket": "ocr-e2e",
        "s3_prefix": f"{prefix}/",
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }
    api = http_server("api", mariadb, tmp_path / "api.log", **settings).start()
    workers: list[ServerProcess] = [
        worker_process(mariadb, tmp_path / "worker-1.log", **settings).start()
    ]
    try:
        api.wait_ready()
        with httpx.Client(base_url=api.url, timeout=60) as client:
            wait_for_live_workers(client, 1)
            models = json_answer(client.get("/api/v1/models"))["models"]
            assert models[0]["batching"]["strategy"] == "standard"
            ids = []
            for index in range(4):
                answer = client.post(
                    "/api/v1/ocr/jobs",
                    files={"file": (f"{index}.png", png(ENGLISH_LINES[index : index + 1]))},
                )
                assert answer.status_code == 202, answer.text
                ids.append(answer.json()["job_id"])
            for index, job_id in enumerate(ids):
                job = wait_for_job(client, job_id, timeout=60)
                assert job["status"] == "succeeded", job
                assert job["result"]["text"] == ENGLISH_LINES[index]

            # a long job (two pages of 30 lines): kill its worker while it reads
            page = render([ENGLISH_LINES[i % 4] for i in range(30)])
            long = client.post(
                "/api/v1/ocr/jobs", files={"file": ("long.pdf", encode([page, page], "PDF"))}
            )
            assert long.status_code == 202, long.text
            long_id = long.json()["job_id"]
            poll_until(
                lambda: json_answer(client.get(f"/api/v1/jobs/{long_id}")),
                "the long job running",
                timeout=60,
                accept=lambda job: job["status"] == "running",
                interval=0.01,
            )
            workers[0].kill()
            workers.append(worker_process(mariadb, tmp_path / "worker-2.log", **settings).start())
            job = wait_for_job(client, long_id, timeout=90)
            assert job["status"] == "succeeded", job
            assert job["attempts"] == 2
            assert job["result"]["pages"] == 2
            assert job["result"]["text"].count(ENGLISH_LINES[0]) == 16
            events = json_answer(client.get(f"/api/v1/jobs/{long_id}/events"))["events"]
            assert [e["type"] for e in events].count("job.succeeded") == 1
    finally:
        for process in [*workers, api]:
            process.stop(timeout=30)
        asyncio.run(dbs.delete_redis_prefix(prefix))
