"""MiniLM int8 against fp32: accuracy and speed in-process, in one run.

Four engines embed the same texts in this process, one after another, for several
interleaved rounds (the best round of each counts: other work only slows a round):
  st            sentence-transformers (PyTorch), the reference
  onnx-fp32     the exported graph on ONNX Runtime
  int8-plain    dynamic int8, per-channel weights (the baseline)
  int8-smoothed activations smoothed on the calibration text, then dynamic int8
Accuracy is the cosine of each embedding against sentence-transformers over two
text sets: the embedding benchmark's 4,000 sentences and sentences of the standard
library's docstrings (prose the calibration text, Inferline's docs, never saw).

    .venv/bin/python benchmarks/int8.py             # 4,000 + 2,000 sentences, 3 rounds
    .venv/bin/python benchmarks/int8.py --quick     # 500 + 300, 1 round
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from embeddings import RESULTS_DIR, machine, sentences

STDLIB_MODULES = (
    "argparse",
    "asyncio",
    "collections",
    "concurrent.futures",
    "contextlib",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "email",
    "enum",
    "functools",
    "http.client",
    "http.server",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "logging",
    "pathlib",
    "pickle",
    "queue",
    "random",
    "re",
    "shutil",
    "socket",
    "sqlite3",
    "ssl",
    "statistics",
    "string",
    "subprocess",
    "tarfile",
    "tempfile",
    "threading",
    "typing",
    "unittest",
    "urllib.request",
    "uuid",
    "zipfile",
)


def prose(count: int) -> list[str]:
    """Sentences of the standard library's docstrings, in a fixed order."""
    seen: set[str] = set()
    out: list[str] = []
    for module_name in STDLIB_MODULES:
        module = importlib.import_module(module_name)
        for name in sorted(dir(module)):
            doc = inspect.getdoc(getattr(module, name, None)) or ""
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                if 30 <= len(sentence) <= 300 and sentence not in seen:
                    seen.add(sentence)
                    out.append(sentence)
    if len(out) < count:
        raise SystemExit(f"only {len(out)} docstring sentences; ask for fewer")
    return out[:count]


def engines(cache: Path) -> dict[str, Callable[[list[str]], np.ndarray]]:
    from sentence_transformers import SentenceTransformer

    from inferline.models.minilm import MiniLM, model_dir
    from inferline.ports.embedding import TextInput

    reference = SentenceTransformer(str(model_dir()), device="cpu")
    built: dict[str, Callable[[list[str]], np.ndarray]] = {
        "st": lambda texts: np.asarray(reference.encode(texts, batch_size=32))
    }
    for name, model in (
        ("onnx-fp32", MiniLM("onnx", onnx_cache_dir=cache)),
        ("int8-plain", MiniLM("onnx", quantize=True, smooth_int8=False, onnx_cache_dir=cache)),
        ("int8-smoothed", MiniLM("onnx", quantize=True, onnx_cache_dir=cache)),
    ):
        model.load()
        model.warmup()

        def encode(texts: list[str], model: MiniLM = model) -> np.ndarray:
            outputs = model.predict_batch([TextInput(text=t) for t in texts])
            return np.asarray([o.embedding for o in outputs])

        built[name] = encode
    return built


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "int8.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sets = {
        "benchmark sentences": sentences(500 if args.quick else 4000),
        "stdlib docstrings": prose(300 if args.quick else 2000),
    }
    rounds = args.rounds or (1 if args.quick else 3)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as cache:
        encoders = engines(Path(cache))
        best: dict[str, float] = {}
        vectors: dict[str, dict[str, np.ndarray]] = {name: {} for name in encoders}
        for _ in range(rounds):
            for name, encode in encoders.items():
                started = time.perf_counter()
                for label, texts in sets.items():
                    vectors[name][label] = encode(texts)
                rate = sum(len(t) for t in sets.values()) / (time.perf_counter() - started)
                best[name] = max(best.get(name, 0.0), rate)
    accuracy: dict[str, dict[str, dict[str, float]]] = {}
    for name in encoders:
        accuracy[name] = {}
        for label in sets:
            a, b = vectors["st"][label], vectors[name][label]
            cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
            accuracy[name][label] = {
                "min": round(float(cosine.min()), 4),
                "mean": round(float(cosine.mean()), 5),
            }
    print(f"{'engine':<14} {'sent/s':>8} {'vs int8-plain':>14}   cosine min / mean per set")
    rows: list[dict[str, Any]] = []
    for name in encoders:
        ratio = best[name] / best["int8-plain"]
        cells = "   ".join(
            f"{label}: {v['min']:.4f} / {v['mean']:.4f}" for label, v in accuracy[name].items()
        )
        print(f"{name:<14} {best[name]:>8.1f} {ratio:>14.3f}   {cells}")
        rows.append(
            {
                "engine": name,
                "sentences_per_second": round(best[name], 1),
                "ratio_to_int8_plain": round(ratio, 3),
                "accuracy": accuracy[name],
            }
        )
    report = {
        "machine": machine(load_before),
        "sets": {label: len(texts) for label, texts in sets.items()},
        "rounds": rounds,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"load average before {load_before}, after {os.getloadavg()}; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
