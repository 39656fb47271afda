"""Source S1's figures: OCR accuracy against the Tesseract CLI, and pages/s and p95 latency
of the standard and batched profiles through the HTTP API.

1. CER (character error rate) on rendered English (DejaVu Sans) and Korean (Nanum Gothic)
   text: the `tesseract` CLI (OMP_THREAD_LIMIT=1; its default page segmentation, and
   `--psm 6 -c preserve_interword_spaces=1`, the settings `ocr-tesseract` uses), then
   `ocr-tesseract` and `ocr-rapid` in process, on the same images.
2. Throughput: for each profile (`INFERLINE_PROFILE=standard|batched`) one `inferline serve`
   with both models; for each model, 1 then 16 concurrent clients each posting a
   3-line page to `POST /api/v1/ocr` (synchronous, through the model's micro-batcher).

    python benchmarks/ocr.py --out benchmarks/results/ocr.json          # ~3 min
    python benchmarks/ocr.py --quick                                      # fewer requests
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from inferline.models.ocr_rapid import RapidOCR
from inferline.models.ocr_tesseract import TesseractOCR
from inferline.ports.ocr import OcrInput, OcrModel
from inferline.testing.documents import (
    ENGLISH_LINES,
    HANGUL_FONT,
    KOREAN_LINES,
    LATIN_FONT,
    cer,
    encode,
    render,
)
from inferline.testing.server import http_server, sqlite_url

PLUGINS = "inferline.models.ocr_tesseract:TesseractOCR,inferline.models.ocr_rapid:RapidOCR"
MORE_ENGLISH = [
    "Shipping address: 42 Harbour Road, Leith, Edinburgh EH6 6LX.",
    "Order #58213 was packed on 2026-11-30 and shipped by courier.",
    "Questions? Write to support@example.com or call +44 131 496 0000.",
]
MORE_KOREAN = [
    "주문 번호 58213번은 11월 30일에 발송되었습니다.",
    "문의 사항은 고객 센터로 연락해 주십시오.",
    "서울특별시 중구 세종대로 110",
]


def documents() -> dict[str, list[tuple[str, bytes]]]:
    """Per language: (reference text, PNG) at two font sizes."""
    out: dict[str, list[tuple[str, bytes]]] = {"eng": [], "kor": []}
    for size in (24, 32):
        for lines in (ENGLISH_LINES, MORE_ENGLISH):
            out["eng"].append(("\n".join(lines), encode([render(lines, LATIN_FONT, size)])))
        for lines in (KOREAN_LINES, MORE_KOREAN):
            out["kor"].append(("\n".join(lines), encode([render(lines, HANGUL_FONT, size)])))
    return out


def cli(data: bytes, lang: str, extra: list[str]) -> tuple[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".png") as handle:
        handle.write(data)
        handle.flush()
        started = time.perf_counter()
        text = subprocess.run(
            ["tesseract", handle.name, "-", "-l", lang, *extra],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        ).stdout
        return text, time.perf_counter() - started


def accuracy() -> list[dict[str, Any]]:
    docs = documents()
    models: dict[str, OcrModel] = {"ocr-tesseract": TesseractOCR(), "ocr-rapid": RapidOCR()}
    for model in models.values():
        model.load()
        model.warmup()
    rows = []
    for lang, pages in docs.items():
        engines: list[tuple[str, Any]] = [
            ("tesseract CLI (default --psm 3)", lambda d, lang=lang: cli(d, lang, [])),
            (
                "tesseract CLI --psm 6, preserve_interword_spaces",
                lambda d, lang=lang: cli(
                    d, lang, ["--psm", "6", "-c", "preserve_interword_spaces=1"]
                ),
            ),
        ]
        for name, model in models.items():
            if lang in model.languages:

                def run(
                    data: bytes, model: OcrModel = model, lang: str = lang
                ) -> tuple[str, float]:
                    started = time.perf_counter()
                    [out] = model.predict_batch([OcrInput(image=data, lang=lang)])  # type: ignore[arg-type]
                    return out.text, time.perf_counter() - started

                engines.append((name, run))
        for name, engine in engines:
            errors, chars, seconds = 0.0, 0, []
            for reference, data in pages:
                text, elapsed = engine(data)
                length = len(" ".join(reference.split()))
                errors += cer(reference, text) * length
                chars += length
                seconds.append(elapsed)
            rows.append(
                {
                    "lang": lang,
                    "engine": name,
                    "pages": len(pages),
                    "cer_percent": round(100 * errors / chars, 2),
                    "ms_per_page": round(1000 * statistics.median(seconds), 1),
                }
            )
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    return rows


async def load(url: str, model: str, page: bytes, clients: int, requests: int) -> dict[str, Any]:
    latencies: list[float] = []
    remaining = requests

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            answer = await client.post(
                "/api/v1/ocr",
                files={"file": ("page.png", page)},
                data={"model": model, "lang": "eng"},
            )
            answer.raise_for_status()
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "model": model,
        "clients": clients,
        "pages": len(latencies),
        "pages_per_s": round(len(latencies) / elapsed, 2),
        "p50_ms": round(1000 * latencies[len(latencies) // 2]),
        "p95_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]),
    }


def throughput(quick: bool, workdir: Path) -> list[dict[str, Any]]:
    page = encode([render(ENGLISH_LINES[:3])])
    sizes = {
        ("ocr-tesseract", 1): 10 if quick else 30,
        ("ocr-tesseract", 16): 32 if quick else 96,
        ("ocr-rapid", 1): 4 if quick else 8,
        ("ocr-rapid", 16): 16 if quick else 32,
    }
    rows = []
    for profile in ("standard", "batched"):
        folder = workdir / profile
        folder.mkdir()
        server = http_server(
            "serve",
            sqlite_url(folder / "jobs.db"),
            folder / "server.log",
            "--workers-in-process",
            "0",
            models="ocr-tesseract,ocr-rapid",
            model_plugins=PLUGINS,
            profile=profile,
            blob_path=str(folder / "blobs"),
            access_log="false",
        )
        server.start().wait_ready()
        try:
            models = httpx.get(f"{server.url}/api/v1/models").json()["models"]
            batching = {m["name"]: m["batching"] for m in models}
            for (model, clients), requests in sizes.items():
                asyncio.run(load(server.url, model, page, clients, min(4, requests)))  # warm
                row = asyncio.run(load(server.url, model, page, clients, requests))
                row = {"profile": profile, **row, "batching": batching[model]}
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            server.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory() as tmp:
        report = {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
            "loadavg_before": load_before,
            "accuracy": accuracy(),
            "throughput": throughput(args.quick, Path(tmp)),
            "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
