"""Schemathesis over the whole OpenAPI schema of a live `inferline serve`.

Examples, coverage and fuzzing phases, one worker, a fixed seed (tests/e2e/schemathesis.toml):
no request may get a 5xx, and every response must match what the schema declares
(status, content type, headers, body), with schema-invalid requests refused.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from inferline.testing.server import http_server

CONFIG = Path(__file__).with_name("schemathesis.toml")
MODELS = "moving-average,lstm-forecast,minilm,ocr-tesseract"
OCR_PLUGIN = "inferline.models.ocr_tesseract:TesseractOCR"  # also an entry point once installed


@pytest.mark.timeout(300)
def test_fuzzing_the_whole_schema_finds_no_5xx_and_no_schema_violation(
    tmp_path: Path, db_url: str
) -> None:
    log_path = tmp_path / "server.log"
    server = http_server(
        "serve",
        db_url,
        log_path,
        models=MODELS,
        model_plugins=OCR_PLUGIN,
        blob_path=str(tmp_path / "blobs"),
    )
    server.start().wait_ready()
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(CONFIG),
                "run",
                f"{server.url}/openapi.json",
                "--no-color",
            ],
            cwd=tmp_path,  # its reports and caches stay out of the repository
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        server.stop()
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-12_000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated, output[-3000:]
    assert int(generated[1]) == int(generated[2]) >= 1000, generated[0]  # fuzzed, not skipped
    assert '"level": "error"' not in log_path.read_text()
