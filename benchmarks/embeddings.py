"""Embedding throughput: sentence-transformers in-process against Inferline over HTTP.

The same sentences (8-24 words, fixed seed, all different) go through:
  a)      sentence-transformers in-process, batch 32 (the ceiling), in its own process;
  b c=1)  Inferline `POST /embed`, one text per request, one client at a time;
  b c=64) the same with 64 concurrent clients;
  c)      `POST /batch-embed`, 32 texts per request (4 concurrent requests);
and, with `--onnx`, the ONNX Runtime backend (fp32 and int8) in-process and over HTTP.

With `--device cuda` every row runs on the GPU: a) is sentence-transformers in fp16 at
its best batch size (tried on the first texts), a') MiniLM's own predict_batch
in-process (Inferline without HTTP), and the servers get INFERLINE_EMBEDDING_DEVICE=cuda.
`--client-processes N` spreads the load generator's connections over N processes (one
Python process cannot make 20,000 requests a second), and each HTTP row records the
server's CPU seconds per second and its batches (from /metrics), to say where time goes.

Every HTTP scenario gets a fresh server (`inferline serve`, empty cache and database)
in its own process; the load generator is another process (a small keep-alive HTTP/1.1
client on asyncio, so that it costs the shared CPU as little as possible).

    .venv/bin/python benchmarks/embeddings.py            # 4,000 sentences, PyTorch rows
    .venv/bin/python benchmarks/embeddings.py --onnx     # and the ONNX Runtime rows
    .venv/bin/python benchmarks/embeddings.py --quick    # 600 sentences, a smoke run
    python benchmarks/embeddings.py --device cuda --sentences 20000 --client-processes 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_VOCABULARY = """
time person year way day thing man world life hand part child eye woman place work week
case point government company number group problem fact river market model data system
network user service cache vector search query result engine signal window table field
garden winter summer morning evening city road bridge train station ticket price budget
report meeting project team manager customer product order invoice payment account bank
doctor patient hospital school teacher student lesson book page story letter message
phone quick slow bright dark green blue heavy light small large early late happy quiet
loud cold warm fresh old new simple clear strong weak open closed public private local
global runs reads writes builds breaks opens closes finds sends takes gives makes moves
grows falls rises shows hides keeps leaves brings carries checks counts draws drives
eats under over after before between through across against along around behind beyond
the a an this that every some many few no each one two three four five
"""
WORDS = tuple(_VOCABULARY.split())
SEED = 20251123
BATCH_PER_REQUEST = 32
BATCH_CONCURRENCY = 4
RESULTS_DIR = Path(__file__).parent / "results"
DEVICE = "cpu"  # --device: where sentence-transformers and the servers' MiniLM run
ST_BATCH_SIZES = (64, 128, 256, 512, 1024)  # tried on a GPU; the CPU keeps batch 32


def machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """The machine a run measured on, with the load average before it and now (after)."""
    import torch

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else None,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def sentences(count: int, seed: int = SEED) -> list[str]:
    """`count` different sentences of 8 to 24 words, the same for the same seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 24))).capitalize() + "."
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


@dataclass
class Row:
    """One scenario's figures."""

    name: str
    sentences: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    peak_rss_mb: float
    client_peak_rss_mb: float | None = None
    errors: int = 0
    notes: str = ""
    server: dict[str, float] = field(default_factory=dict)  # CPU and batches, HTTP rows

    @property
    def rate(self) -> float:
        return self.sentences / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[index]

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        data.update(
            sentences_per_second=round(self.rate, 1),
            p50_ms=round(self.percentile(50), 1),
            p95_ms=round(self.percentile(95), 1),
            p99_ms=round(self.percentile(99), 1),
        )
        return data


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of a process, in MiB."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- in-process scenarios (each in its own process) -----------------------------
def _in_process(kind: str, texts: list[str], queue: Any, device: str) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np

    from inferline.models.minilm import MiniLM, model_dir
    from inferline.ports.embedding import TextInput

    latencies: list[float] = []
    notes = "batch 32, latency per batch"
    if kind == "torch-st":
        import torch
        from sentence_transformers import SentenceTransformer

        dtype = torch.float16 if device == "cuda" else torch.float32  # whatever the files hold
        model = SentenceTransformer(str(model_dir()), device=device, model_kwargs={"dtype": dtype})
        batch_size = 32
        if device == "cuda":
            batch_size = _best_batch_size(model, texts[:8192])
            notes = f"fp16, batch {batch_size} (best of {ST_BATCH_SIZES}), latency per 32"
        model.encode(texts[:64], batch_size=batch_size)

        def encode(batch: list[str]) -> Any:
            return model.encode(batch, batch_size=batch_size)
    else:
        backend = (
            MiniLM("onnx", quantize=(kind == "onnx-int8"))
            if kind.startswith("onnx")
            else MiniLM(device="cuda" if device == "cuda" else "cpu")
        )
        backend.load()
        backend.warmup()
        chunk = int(MiniLM.cuda_batching["max_batch_size"]) if device == "cuda" else len(texts)
        if kind == "inferline-torch":
            notes = f"predict_batch of {chunk} texts (the server's largest batch), latency per 32"

        def encode(batch: list[str]) -> Any:
            vectors: list[list[float]] = []
            for start in range(0, len(batch), chunk):
                part = [TextInput(text=t) for t in batch[start : start + chunk]]
                vectors.extend(o.embedding for o in backend.predict_batch(part))
            return np.asarray(vectors)

    # Throughput: one call over every text (sentence-transformers sorts them by length
    # and cuts batches; MiniLM.predict_batch does the same), then latency per batch of 32.
    if device == "cuda":
        encode(texts)  # a GPU loads kernels and picks algorithms on a shape's first use
    started = time.perf_counter()
    vectors = encode(texts)
    seconds = time.perf_counter() - started
    for start in range(0, min(len(texts), 1024), 32):
        t0 = time.perf_counter()
        encode(texts[start : start + 32])
        latencies.append((time.perf_counter() - t0) * 1000)
    np.save(Path(tempfile.gettempdir()) / f"inferline-bench-{kind}.npy", np.asarray(vectors))
    queue.put((seconds, latencies, peak_rss_mb(), notes))


def _best_batch_size(model: Any, texts: list[str]) -> int:
    """sentence-transformers' fastest batch size of ST_BATCH_SIZES on these texts."""
    timings = {}
    for size in ST_BATCH_SIZES:
        model.encode(texts, batch_size=size)  # warm these shapes up
        t0 = time.perf_counter()
        model.encode(texts, batch_size=size)
        timings[size] = time.perf_counter() - t0
    print(f"sentence-transformers seconds per batch size: {timings}", flush=True)
    return min(timings, key=lambda size: timings[size])


def run_in_process(kind: str, texts: list[str], name: str) -> Row:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_in_process, args=(kind, texts, queue, DEVICE))
    process.start()
    seconds, latencies, rss, notes = queue.get()
    process.join()
    return Row(name, len(texts), seconds, latencies, rss, notes=notes)


# -- HTTP scenarios -------------------------------------------------------------
SERVER_SETTINGS: dict[str, str] = {}  # --server-setting KEY=VALUE, for every server started


class Server:
    """A fresh `inferline serve` with only MiniLM, in a temporary folder."""

    def __init__(self, port: int, **settings: str) -> None:
        settings = {**SERVER_SETTINGS, **settings}
        self.folder = tempfile.mkdtemp(prefix="inferline-bench-")
        self.port = port
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLINE_")}
        env.update(
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            INFERLINE_MODELS="minilm",
            INFERLINE_LOG_LEVEL="WARNING",
            INFERLINE_LOG_FORMAT="json",
            INFERLINE_DATABASE_URL=f"sqlite+aiosqlite:///{self.folder}/bench.db",
            **{f"INFERLINE_{k.upper()}": v for k, v in settings.items()},
        )
        import subprocess

        self.log = open(Path(self.folder) / "server.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "inferline.cli",
                "serve",
                "--port",
                str(port),
                "--workers-in-process",
                "0",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 600) -> None:
        import httpx

        from inferline.testing.polling import poll_until

        def readyz() -> httpx.Response:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {self.folder}/server.log")
            return httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1)

        poll_until(
            readyz,
            "server ready",
            timeout=timeout,
            accept=lambda response: response.status_code == 200,
            interval=0.2,
        )

    def cpu_seconds(self) -> float:
        """User and system CPU time of the server process (all its threads) so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def batches(self) -> dict[str, float]:
        """MiniLM's batches so far, from /metrics: count, items and compute seconds."""
        import httpx

        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=10).text
        wanted = {
            "inferline_batch_size_count": "batches",
            "inferline_batch_size_sum": "items",
            "inferline_batch_service_seconds_sum": "compute_seconds",
        }
        found = {}
        for line in text.splitlines():
            name, _, rest = line.partition("{")
            if name in wanted and 'model="minilm"' in rest:
                found[wanted[name]] = float(line.rsplit(" ", 1)[1])
        return found

    def stop(self) -> float:
        rss = peak_rss_mb(self.process.pid)
        self.process.terminate()
        self.process.wait(60)
        self.log.close()
        return rss


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: bytes
) -> bytes:
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    payload = await reader.readexactly(length)
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {payload[:200]!r}")
    return payload


async def _load(
    port: int, path: str, bodies: list[bytes], concurrency: int
) -> tuple[float, list[float], int]:
    pending = list(reversed(bodies))
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while pending:
            body = pending.pop()
            t0 = time.perf_counter()
            try:
                await _post(reader, writer, path, body)
                latencies.append((time.perf_counter() - t0) * 1000)
            except RuntimeError:
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


def _client_process(
    port: int,
    path: str,
    bodies: list[bytes],
    warm_bodies: list[bytes] | None,
    concurrency: int,
    queue: Any,
    barrier: Any,
) -> None:
    """Warm up (connections and first batches: the first bodies, or `warm_bodies` of
    other texts, not cached), then measure from the barrier on."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    warm = bodies[: min(len(bodies), 2 * concurrency)] if warm_bodies is None else []
    asyncio.run(_load(port, path, warm_bodies or warm, concurrency))
    barrier.wait()  # every client process starts measuring together
    started = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
    seconds, latencies, errors = asyncio.run(_load(port, path, bodies[len(warm) :], concurrency))
    queue.put((started, started + seconds, latencies, errors, len(warm), peak_rss_mb()))


def run_http(
    name: str,
    texts: list[str],
    *,
    per_request: int,
    concurrency: int,
    port: int,
    client_processes: int = 1,
    warm_texts: list[str] | None = None,
    settings: dict[str, str] | None = None,
) -> Row:
    path = "/embed" if per_request == 1 else "/batch-embed"
    bodies = _bodies(texts, per_request)
    warm_bodies = _bodies(warm_texts, per_request) if warm_texts else None
    processes = max(1, min(client_processes, concurrency))
    server = Server(port, **(settings or {}))
    try:
        server.wait_ready()
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        barrier = context.Barrier(processes + 1)
        clients = [
            context.Process(
                target=_client_process,
                args=(
                    port,
                    path,
                    bodies[index::processes],
                    warm_bodies[index::processes] if warm_bodies else None,
                    concurrency // processes + (index < concurrency % processes),
                    queue,
                    barrier,
                ),
            )
            for index in range(processes)
        ]
        for client in clients:
            client.start()
        barrier.wait()
        cpu_before, batches_before = server.cpu_seconds(), server.batches()
        results = [queue.get() for _ in clients]
        cpu_after, batches_after = server.cpu_seconds(), server.batches()
        for client in clients:
            client.join()
    finally:
        server_rss = server.stop()
    seconds = max(r[1] for r in results) - min(r[0] for r in results)
    latencies = [ms for r in results for ms in r[2]]
    warm = sum(r[4] for r in results)
    measured = (len(bodies) - warm) * per_request if per_request > 1 else len(bodies) - warm
    measured = min(measured, len(texts))
    batches = {k: v - batches_before.get(k, 0.0) for k, v in batches_after.items()}
    stats = {"cpu_seconds_per_second": round((cpu_after - cpu_before) / seconds, 2)}
    if batches.get("batches"):
        stats["mean_batch"] = round(batches["items"] / batches["batches"], 1)
        # > 1 when batches overlap (two instances)
        stats["compute_seconds_per_second"] = round(batches["compute_seconds"] / seconds, 2)
    return Row(
        name,
        measured,
        seconds,
        latencies,
        server_rss,
        max(r[5] for r in results),
        sum(r[3] for r in results),
        notes=(
            f"{per_request} text(s)/request, concurrency {concurrency} "
            f"({processes} client process(es)), latency per request"
        ),
        server=stats,
    )


def _bodies(texts: list[str], per_request: int) -> list[bytes]:
    if per_request == 1:
        return [json.dumps({"text": t}).encode() for t in texts]
    return [
        json.dumps({"texts": texts[i : i + per_request]}).encode()
        for i in range(0, len(texts), per_request)
    ]


def parity(reference: str, other: str) -> dict[str, float]:
    import numpy as np

    folder = Path(tempfile.gettempdir())
    a = np.load(folder / f"inferline-bench-{reference}.npy")
    b = np.load(folder / f"inferline-bench-{other}.npy")
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": round(float(cosine.min()), 5), "mean": round(float(cosine.mean()), 5)}


def torch_rows(
    texts: list[str], port: int, *, client_processes: int = 1, batch_concurrency: int = 4
) -> list[Row]:
    """The PyTorch scenarios a), (on a GPU) a'), b) c=1, b) c=64 and c)."""
    count = len(texts)
    on_gpu = DEVICE == "cuda"
    settings = {"embedding_device": "cuda"} if on_gpu else {}
    # a GPU server is warmed with as many other texts (no cache hits) before measuring
    warm = sentences(min(count, 10_000), seed=SEED + 1) if on_gpu else None
    st_name = "a) sentence-transformers cuda fp16" if on_gpu else "a) sentence-transformers b32"
    rows = [run_in_process("torch-st", texts, st_name)]
    if on_gpu:
        rows.append(run_in_process("inferline-torch", texts, "a') MiniLM in-process cuda"))
    return [
        *rows,
        run_http(
            "b) /embed c=1",
            texts[: max(200, count // 8)] if not on_gpu else texts[:1000],
            per_request=1,
            concurrency=1,
            port=port,
            settings=settings,
        ),
        run_http(
            "b) /embed c=64",
            texts,
            per_request=1,
            concurrency=64,
            port=port,
            client_processes=client_processes,
            warm_texts=warm,
            settings=settings,
        ),
        run_http(
            f"c) /batch-embed 32/req c={batch_concurrency}",
            texts,
            per_request=BATCH_PER_REQUEST,
            concurrency=batch_concurrency,
            port=port,
            client_processes=client_processes,
            warm_texts=warm,
            settings=settings,
        ),
    ]


def onnx_rows(texts: list[str], port: int) -> list[Row]:
    """The same through ONNX Runtime, fp32 and int8."""
    rows = [
        run_in_process(kind, texts, f"a) ONNX {kind[5:]} in-process b32")
        for kind in ("onnx-fp32", "onnx-int8")
    ]
    for quantize in ("false", "true"):
        label = "int8" if quantize == "true" else "fp32"
        settings = {"embedding_backend": "onnx", "embedding_int8": quantize}
        rows.append(
            run_http(
                f"b) /embed c=64 ONNX {label}",
                texts,
                per_request=1,
                concurrency=64,
                port=port,
                settings=settings,
            )
        )
        rows.append(
            run_http(
                f"c) /batch-embed ONNX {label}",
                texts,
                per_request=BATCH_PER_REQUEST,
                concurrency=BATCH_CONCURRENCY,
                port=port,
                settings=settings,
            )
        )
    return rows


def _print_row(row: Row) -> None:
    s = row.summary()
    print(
        f"{row.name:<32} {s['sentences_per_second']:>8} sent/s  p50 {s['p50_ms']:>7} ms  "
        f"p95 {s['p95_ms']:>7} ms  p99 {s['p99_ms']:>7} ms  peak {row.peak_rss_mb:.0f} MiB"
        f"  errors {row.errors}" + (f"  server {row.server}" if row.server else ""),
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 sentences instead of 4,000")
    parser.add_argument("--sentences", type=int, default=None)
    parser.add_argument("--onnx", action="store_true", help="add the ONNX Runtime rows")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every scenario N times (interleaved) and keep the best",
    )
    parser.add_argument("--port", type=int, default=8931)
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an INFERLINE_ setting for the servers only, e.g. torch_threads=1",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cuda: sentence-transformers in fp16 and INFERLINE_EMBEDDING_DEVICE=cuda",
    )
    parser.add_argument("--client-processes", type=int, default=1, help="load generator processes")
    parser.add_argument(
        "--batch-concurrency",
        type=int,
        default=BATCH_CONCURRENCY,
        help="concurrent /batch-embed requests",
    )
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if args.onnx and DEVICE == "cuda":
        parser.error("--onnx rows run on the CPU; leave out --device cuda")
    for item in args.server_setting:
        key, _, value = item.partition("=")
        SERVER_SETTINGS[key.strip().lower()] = value.strip()
    count = args.sentences or (600 if args.quick else 4000)
    texts = sentences(count)
    load_before = os.getloadavg()
    runs: list[Row] = []
    parities: dict[str, dict[str, float]] = {}
    for _ in range(max(1, args.repeat)):
        rows_of_run = torch_rows(
            texts,
            args.port,
            client_processes=args.client_processes,
            batch_concurrency=args.batch_concurrency,
        )
        for row in rows_of_run:
            _print_row(row)
            runs.append(row)
        if args.onnx:
            for row in onnx_rows(texts, args.port):
                _print_row(row)
                runs.append(row)
            parities = {kind: parity("torch-st", kind) for kind in ("onnx-fp32", "onnx-int8")}
    best: dict[str, Row] = {}
    for row in runs:  # the best run of each scenario: other work on the machine only slows
        if row.name not in best or row.rate > best[row.name].rate:
            best[row.name] = row
    rows = list(best.values())
    ceiling = rows[0].rate
    print(f"\nbest of {args.repeat}; ratio to the ceiling (a = {ceiling:.1f} sent/s):")
    for row in rows:
        _print_row(row)
        print(f"    ratio {row.rate / ceiling:.2f}")
    if parities:
        print(f"parity against sentence-transformers (cosine): {parities}")
    if DEVICE == "cuda":
        parities = {"inferline-torch": parity("torch-st", "inferline-torch")}
        print(f"parity against sentence-transformers fp16 (cosine): {parities}")
    report = {
        "machine": machine(load_before),
        "device": DEVICE,
        "command": " ".join(["benchmarks/embeddings.py", *sys.argv[1:]]),
        "sentences": count,
        "repeat": args.repeat,
        "rows": [
            row.summary() | {"ratio_to_ceiling": round(row.rate / ceiling, 3)} for row in rows
        ],
        "runs": [row.summary() for row in runs],
        "parity": parities,
    }
    out = args.out or (RESULTS_DIR / f"embeddings-{time.strftime('%Y%m%d-%H%M%S')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
