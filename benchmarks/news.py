"""Source S0's news stream, end to end: articles/s from a feed of 2,000 items.

A generated RSS feed (realistic headlines and leads, 16 story kinds, unique guids) is
served over HTTP by this process. One `inferline serve` (API + feed poller + stream
processor) on a fresh SQLite file registers it through `POST /api/v1/news/feeds`; the
clock runs from that request until `GET /api/v1/news/stats` (read the way a user
reads it) counts every article analysed and stored: fetch, parse, normalise,
deduplicate, publish to `news.raw`, batch, the five analysers, one transaction per
batch. With `--llm smollm2` the summary analyser asks the served SmolLM2 for one
sentence per article; without, it is skipped ("no LLM configured").

    python benchmarks/news.py --out benchmarks/results/news.json
    python benchmarks/news.py --stream redis --out benchmarks/results/news-redis.json
    python benchmarks/news.py --llm smollm2 --items 200 --out benchmarks/results/news-llm.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from inferline.testing import databases as dbs
from inferline.testing.news_feeds import FeedServer, make_items, rss
from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import http_server, sqlite_url


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    items = make_items(args.items)
    feed = FeedServer(body=rss(items)).start()
    workdir = Path(tempfile.mkdtemp(prefix="inferline-news-bench-"))
    settings: dict[str, str] = {
        "models": "minilm" + (f",{args.llm}" if args.llm != "none" else ""),
        "news_batch_size": str(args.batch_size),
        "news_poll_tick_seconds": "0.2",
        "access_log": "false",
    }
    if args.llm != "none":
        settings["llm_model"] = args.llm
    prefix = None
    if args.stream == "redis":
        prefix = dbs.unique_name("inferline-bench")
        settings.update({"streams_url": dbs.redis_url(), "redis_prefix": prefix})
    server = http_server(
        "serve", sqlite_url(workdir / "news.db"), workdir / "server.log", **settings
    )
    before = machine()
    server.start().wait_ready(timeout=600)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            started = time.perf_counter()
            answer = client.post(
                "/api/v1/news/feeds", json={"url": feed.url, "interval_seconds": 3600}
            )
            answer.raise_for_status()
            samples: list[tuple[float, int]] = []

            def analysed() -> int:
                count: int = json_answer(client.get("/api/v1/news/stats"))["articles"]["analysed"]
                samples.append((time.perf_counter() - started, count))
                return count

            poll_until(
                analysed,
                f"{args.items} articles analysed",
                timeout=args.timeout,
                accept=lambda n: n >= args.items,
                interval=0.25,
            )
            elapsed = time.perf_counter() - started
            stats = json_answer(client.get("/api/v1/news/stats"))
            feeds = json_answer(client.get("/api/v1/news/feeds"))["feeds"]
            metrics = client.get("/metrics").text
    finally:
        server.stop()
        feed.stop()
        if prefix is not None:
            asyncio.run(dbs.delete_redis_prefix(prefix))
    first = next((t for t, n in samples if n > 0), None)
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "items": args.items,
        "stream": args.stream,
        "llm": args.llm,
        "batch_size": args.batch_size,
        "seconds": round(elapsed, 2),
        "articles_per_second": round(args.items / elapsed, 2),
        "seconds_to_first_analysed": None if first is None else round(first, 2),
        "articles": stats["articles"],
        "analysers": stats["analysers"],
        "feed": {k: feeds[0][k] for k in ("articles_published", "failures", "last_error")},
        "stream_lag_metric_present": "inferline_news_stream_lag" in metrics,
        "machine_before": before,
        "machine_after": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--stream", choices=["embedded", "redis"], default="embedded")
    parser.add_argument("--llm", default="none", help="a served chat model (smollm2), or none")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
