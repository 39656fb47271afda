"""The chat model's speed: Inferline's `/v1/chat/completions` against llama.cpp called directly.

  a) llama-cpp-python in this process (the ceiling): the same GGUF, context and threads
     as the served model, `create_chat_completion(stream=True)`, one request at a time;
  b) `inferline serve` with smollm2 (its own process, fresh SQLite file), driven by the
     official `openai` client, streaming with usage, at 1 and at 8 concurrent clients.

Per request: time to first token (request sent -> first piece of text), the answer's
tokens (`usage.completion_tokens`, or llama.cpp's usage) and decode speed (tokens after
the first / time after the first). Per scenario: aggregate tokens/s (every answer's
tokens / wall time). The served model generates one sequence at a time, like llama.cpp
itself, so the ceiling for 8 clients is the direct tokens/s, and the best possible mean
time to first token for 8 simultaneous requests served in turn is the direct TTFT plus
3.5 whole generations; both are reported beside the measured figures.

The prompt asks for a long count so that every answer runs to `max_tokens`.

    .venv/bin/python benchmarks/llm.py                     # 8 requests per scenario
    .venv/bin/python benchmarks/llm.py --requests 16 --max-tokens 256
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"
MODEL = "smollm2"
MESSAGES: Any = [{"role": "user", "content": "Count from 1 to 1000, separated by commas."}]


@dataclass
class Request:
    ttft_s: float
    tokens: int
    seconds: float

    @property
    def decode_tokens_per_s(self) -> float:
        after_first = self.seconds - self.ttft_s
        return (self.tokens - 1) / after_first if self.tokens > 1 and after_first > 0 else 0.0


@dataclass
class Scenario:
    name: str
    clients: int
    requests: int
    wall_s: float
    tokens: int
    tokens_per_s: float
    ttft_mean_s: float
    ttft_p50_s: float
    ttft_max_s: float
    decode_tokens_per_s_mean: float
    load_average: tuple[float, float, float]


def summarise(name: str, clients: int, done: list[Request], wall: float) -> Scenario:
    tokens = sum(r.tokens for r in done)
    ttfts = [r.ttft_s for r in done]
    return Scenario(
        name=name,
        clients=clients,
        requests=len(done),
        wall_s=round(wall, 3),
        tokens=tokens,
        tokens_per_s=round(tokens / wall, 1),
        ttft_mean_s=round(statistics.fmean(ttfts), 4),
        ttft_p50_s=round(statistics.median(ttfts), 4),
        ttft_max_s=round(max(ttfts), 4),
        decode_tokens_per_s_mean=round(statistics.fmean(r.decode_tokens_per_s for r in done), 1),
        load_average=os.getloadavg(),
    )


def direct(requests: int, max_tokens: int) -> Scenario:
    """llama-cpp-python itself, configured like the served model, one request at a time."""
    from llama_cpp import Llama

    from inferline.models.smollm2 import SmolLM2, available_cores, gguf_path

    llm = Llama(
        model_path=str(gguf_path()),
        n_ctx=SmolLM2.context_tokens,
        n_threads=available_cores(),
        n_threads_batch=available_cores(),
        verbose=False,
    )
    list(llm.create_chat_completion(MESSAGES, max_tokens=4, stream=True))  # warm-up
    done = []
    started = time.perf_counter()
    for _ in range(requests):
        sent = time.perf_counter()
        first = None
        pieces = 0
        chunks: Any = llm.create_chat_completion(
            MESSAGES, max_tokens=max_tokens, temperature=0.0, repeat_penalty=1.0, stream=True
        )
        for chunk in chunks:
            if chunk["choices"][0]["delta"].get("content"):
                first = first or time.perf_counter()
                pieces += 1
        end = time.perf_counter()
        done.append(Request(ttft_s=(first or end) - sent, tokens=pieces, seconds=end - sent))
    wall = time.perf_counter() - started
    del llm
    return summarise("llama-cpp-python direct", 1, done, wall)


async def served(base_url: str, clients: int, requests: int, max_tokens: int) -> Scenario:
    """The openai client streaming from Inferline, `clients` at once."""
    import openai

    async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as chat:

        async def one() -> Request:
            sent = time.perf_counter()
            first = None
            tokens = 0
            stream = await chat.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,
                max_tokens=max_tokens,
                temperature=0.0,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    first = first or time.perf_counter()
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
            end = time.perf_counter()
            return Request(ttft_s=(first or end) - sent, tokens=tokens, seconds=end - sent)

        await one()  # warm-up
        done: list[Request] = []
        started = time.perf_counter()
        for _ in range(0, requests, clients):
            done += await asyncio.gather(*(one() for _ in range(clients)))
        wall = time.perf_counter() - started
    return summarise(f"Inferline /v1/chat/completions, {clients} client(s)", clients, done, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--requests", type=int, default=8, help="requests per scenario")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "llm.json")
    args = parser.parse_args()

    from inferline.testing.server import http_server, sqlite_url

    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    ceiling = direct(args.requests, args.max_tokens)
    print(json.dumps(asdict(ceiling)), flush=True)
    results = [ceiling]
    with tempfile.TemporaryDirectory() as folder:
        server = http_server(
            "serve",
            sqlite_url(Path(folder) / "bench.db"),
            Path(folder) / "server.log",
            models=MODEL,
            model_plugins="inferline.models.smollm2:SmolLM2",
            access_log="false",
        )
        server.start().wait_ready()
        try:
            for clients in (1, 8):
                requests = max(clients, args.requests // clients * clients)
                if clients == 8:
                    requests = max(requests, 16)
                scenario = asyncio.run(
                    served(f"{server.url}/v1", clients, requests, args.max_tokens)
                )
                print(json.dumps(asdict(scenario)), flush=True)
                results.append(scenario)
        finally:
            server.stop()
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    one, eight = results[1], results[2]
    generation_s = args.max_tokens / ceiling.tokens_per_s if ceiling.tokens_per_s else 0.0
    report: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/llm.py", *sys.argv[1:]]),
        "max_tokens": args.max_tokens,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "uptime_before": uptime_before,
            "uptime_after": uptime_after,
        },
        "scenarios": [asdict(s) for s in results],
        "ratios_to_direct": {
            "tokens_per_s_1_client": round(one.tokens_per_s / ceiling.tokens_per_s, 3),
            "tokens_per_s_8_clients": round(eight.tokens_per_s / ceiling.tokens_per_s, 3),
            "ttft_1_client": round(one.ttft_mean_s / ceiling.ttft_mean_s, 2),
            "ttft_8_clients_vs_ideal_queue": round(
                eight.ttft_mean_s / (ceiling.ttft_mean_s + 3.5 * generation_s), 3
            ),
        },
        "ideal_ttft_8_clients_s": round(ceiling.ttft_mean_s + 3.5 * generation_s, 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["ratios_to_direct"]))


if __name__ == "__main__":
    main()
