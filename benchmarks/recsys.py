"""Source S3's recommendation app against the source's SLAs, through the HTTP API.

One `inferline serve` (API only, MiniLM; SQLite, or PostgreSQL with `--store postgresql`;
the in-memory cache, or Redis with
`--cache redis`) gets a generated catalog and users with known tastes
(`inferline.testing.recsys_data`: 6 categories x 4 themed groups, each user likes one
group), then:

1. quality: hit rate at 10 of the hybrid recommendations (`llm=false`) against a
   popularity baseline (the most popular products the user has not seen), on each
   user's held-out item;
2. recommendations at a fixed rate (default 50/s, open loop), each right after a new
   behaviour event of its user, so the cached `rec:user:{id}` was just invalidated and
   every answer is computed (the hard case), SLA p90 < 1 s;
3. the API mix of those requests (events, recommendations) and product, similar,
   popular and trending reads: SLA p95 < 200 ms;
4. conversation messages at a fixed rate (default 100/s): each is embedded, stored with
   its outbox event, learnt from, answers with recommendations and a reply (without an
   LLM: the reply that says so).

With `--llm smollm2` a second server serves SmolLM2 too and a few recommendations with
the LLM component (the LLM scores the top 5 against the conversation) and messages
with an LLM reply are timed one at a time: the served 135M model generates ~50 tokens/s
on 2 cores, so it sets their latency.

    python benchmarks/recsys.py --out benchmarks/results/recsys.json
    python benchmarks/recsys.py --llm smollm2 --out benchmarks/results/recsys-llm.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from inferline.testing import databases as dbs
from inferline.testing import recsys_data
from inferline.testing.mixed_load import percentile
from inferline.testing.server import ServerProcess, http_server, sqlite_url


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


@dataclass
class Timings:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, route: str, seconds: float, status: int, ok: int = 200) -> None:
        if status == ok:
            self.latencies.setdefault(route, []).append(seconds)
        else:
            counts = self.errors.setdefault(route, {})
            counts[str(status)] = counts.get(str(status), 0) + 1

    def summary(self, routes: list[str] | None = None) -> dict[str, Any]:
        values = [
            v for r, vs in self.latencies.items() if routes is None or r in routes for v in vs
        ]
        return _stats(values)

    def by_route(self) -> dict[str, Any]:
        return {route: _stats(values) for route, values in sorted(self.latencies.items())}


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 0.5) * 1000, 1),
        "p90_ms": round(percentile(values, 0.9) * 1000, 1),
        "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


async def timed(
    client: httpx.AsyncClient, timings: Timings, route: str, method: str, url: str, **kw: Any
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kw)
    except httpx.HTTPError as exc:
        timings.add(route, time.perf_counter() - started, 0)
        print(f"{route}: {type(exc).__name__}")
        return None
    ok = 201 if method == "POST" and "conversations" in url else 200
    timings.add(route, time.perf_counter() - started, response.status_code, ok)
    return response


async def open_loop(rate: float, seconds: float, action: Any) -> float:
    """Start `action(i)` at `rate` per second for `seconds` (not waiting for answers);
    returns the wall time until every one finished."""
    started = time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(action(i)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - started


def start_server(
    workdir: Path, args: argparse.Namespace, llm: bool, database_url: str | None = None
) -> ServerProcess:
    """`inferline serve` on `database_url` (PostgreSQL), or on a SQLite file of its own."""
    name = "llm" if llm else "plain"
    settings = {
        "models": "minilm,smollm2" if llm else "minilm",
        "access_log": "false",
        "max_pending_sync": "100000",
    }
    if args.cache == "redis":
        settings["cache_url"] = dbs.redis_url()
        settings["redis_prefix"] = dbs.unique_name("inferline-bench")
    server = http_server(
        "serve",
        database_url or sqlite_url(workdir / f"{name}.db"),
        workdir / f"{name}.log",
        "--workers-in-process",
        "0",
        **settings,
    )
    return server.start().wait_ready(timeout=300)


async def load_data(
    client: httpx.AsyncClient, data: recsys_data.Dataset, timings: Timings
) -> dict[str, Any]:
    started = time.perf_counter()
    answer = await client.post("/api/v1/products", json={"products": data.products})
    answer.raise_for_status()
    catalog_seconds = time.perf_counter() - started
    events = data.events()
    for start in range(0, len(events), 100):
        await timed(
            client,
            timings,
            "POST /events (100)",
            "POST",
            "/api/v1/events",
            json=events[start : start + 100],
        )
    return {
        "products": len(data.products),
        "catalog_upsert_seconds": round(catalog_seconds, 2),
        "embedded": answer.json()["embedded"],
        "users": len(data.users),
        "history_events": len(events),
    }


async def quality(client: httpx.AsyncClient, data: recsys_data.Dataset) -> dict[str, Any]:
    hybrid: dict[str, list[str]] = {}
    popular: dict[str, list[str]] = {}
    popular_ids = [
        i["product"]["id"]
        for i in (await client.get("/api/v1/recommendations/popular", params={"k": 30})).json()[
            "items"
        ]
    ]
    for user in data.users:
        answer = (
            await client.get(
                f"/api/v1/users/{user}/recommendations", params={"k": 10, "llm": "false"}
            )
        ).json()
        hybrid[user] = [i["product"]["id"] for i in answer["items"]]
        seen = {e["product_id"] for e in data.history[user]}
        popular[user] = [p for p in popular_ids if p not in seen][:10]
    return {
        "hit_rate_at_10_hybrid": round(recsys_data.hit_rate(hybrid, data.held_out), 3),
        "hit_rate_at_10_popularity": round(recsys_data.hit_rate(popular, data.held_out), 3),
        "users": len(data.users),
    }


async def recommendation_load(
    client: httpx.AsyncClient, data: recsys_data.Dataset, args: argparse.Namespace
) -> dict[str, Any]:
    timings = Timings()
    users = sorted(data.users)
    products = [p["id"] for p in data.products]
    rng = random.Random(5)

    async def one(i: int) -> None:
        user = users[i % len(users)]
        event = {"user_id": user, "type": "view", "product_id": rng.choice(products)}
        await timed(client, timings, "POST /events", "POST", "/api/v1/events", json=event)
        await timed(
            client,
            timings,
            "GET recommendations",
            "GET",
            f"/api/v1/users/{user}/recommendations",
            params={"k": 10, "llm": "false"},
        )
        kind = i % 4
        if kind == 0:
            await timed(
                client, timings, "GET product", "GET", f"/api/v1/products/{event['product_id']}"
            )
        elif kind == 1:
            await timed(
                client,
                timings,
                "GET similar",
                "GET",
                f"/api/v1/products/{event['product_id']}/similar",
            )
        elif kind == 2:
            await timed(
                client,
                timings,
                "GET popular",
                "GET",
                "/api/v1/recommendations/popular",
                params={"category": data.group_of[event["product_id"]][0]},
            )
        else:
            await timed(client, timings, "GET trending", "GET", "/api/v1/recommendations/trending")

    load_before = os.getloadavg()[0]
    wall = await open_loop(args.rate, args.seconds, one)
    return {
        "rate_per_second": args.rate,
        "seconds": args.seconds,
        "wall_seconds": round(wall, 2),
        "recommendations": timings.summary(["GET recommendations"]),
        "api_all_routes": timings.summary(),
        "by_route": timings.by_route(),
        "errors": timings.errors,
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


async def message_load(
    client: httpx.AsyncClient, data: recsys_data.Dataset, rate: float, seconds: float
) -> dict[str, Any]:
    timings = Timings()
    users = sorted(data.users)
    conversations = []
    for user in users[:50]:
        answer = await client.post("/api/v1/conversations", json={"user_id": user})
        conversations.append(answer.json()["id"])
    texts = [
        "I am looking for running shoes under 100",
        "Do you have a good espresso machine?",
        "Something for camping this summer, a tent maybe",
        "A gift: a perfume set or a lipstick",
        "Any history books about ancient egypt?",
    ]
    replies: list[str] = []

    async def one(i: int) -> None:
        conversation = conversations[i % len(conversations)]
        response = await timed(
            client,
            timings,
            "POST message",
            "POST",
            f"/api/v1/conversations/{conversation}/messages",
            json={"content": texts[i % len(texts)]},
        )
        if response is not None and response.status_code == 201 and len(replies) < 1:
            replies.append(response.json()["reply"]["content"][:300])

    load_before = os.getloadavg()[0]
    wall = await open_loop(rate, seconds, one)
    sent = int(rate * seconds)
    return {
        "rate_per_second": rate,
        "messages": sent,
        "wall_seconds": round(wall, 2),
        "messages_per_second_completed": round(sent / wall, 1),
        "latency": timings.summary(),
        "errors": timings.errors,
        "sample_reply": replies[0] if replies else None,
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


async def with_llm(client: httpx.AsyncClient, data: recsys_data.Dataset, n: int) -> dict[str, Any]:
    timings = Timings()
    components: dict[str, int] = {}
    users = sorted(data.users)
    for i in range(n):
        user = users[i]
        await client.post(
            "/api/v1/events",
            json={"user_id": user, "type": "view", "product_id": data.products[i]["id"]},
        )
        response = await timed(
            client,
            timings,
            "GET recommendations (LLM)",
            "GET",
            f"/api/v1/users/{user}/recommendations",
            params={"k": 10},
        )
        if response is not None:
            unavailable = response.json()["unavailable"]
            key = "llm scored" if "llm" not in unavailable else unavailable["llm"][:80]
            components[key] = components.get(key, 0) + 1
    conversation = (await client.post("/api/v1/conversations", json={"user_id": users[0]})).json()[
        "id"
    ]
    reply = None
    for text in ("I need running shoes for a marathon", "And something to drink coffee from?"):
        response = await timed(
            client,
            timings,
            "POST message (LLM reply)",
            "POST",
            f"/api/v1/conversations/{conversation}/messages",
            json={"content": text},
        )
        if response is not None and response.status_code == 201:
            reply = response.json()["reply"]["content"][:300]
    return {
        "by_route": timings.by_route(),
        "llm_component": components,
        "sample_reply": reply,
        "errors": timings.errors,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="inferline-recsys-bench-"))
    data = recsys_data.users_with_tastes(
        recsys_data.catalog(per_group=args.per_group), users=args.users
    )
    report: dict[str, Any] = {"machine": machine(), "store": args.store, "cache": args.cache}
    database = dbs.unique_name("inferline_bench") if args.store == "postgresql" else None
    url = await dbs.create_postgres_database(database) if database else None
    server = start_server(workdir, args, llm=False, database_url=url) if not args.only_llm else None
    try:
        if server is None:
            raise _Skip
        async with httpx.AsyncClient(
            base_url=server.url, timeout=60, limits=httpx.Limits(max_connections=200)
        ) as client:
            setup = Timings()
            report["data"] = await load_data(client, data, setup)
            report["data"]["events_batch_of_100"] = setup.summary()
            report["quality"] = await quality(client, data)
            report["recommendations_at_rate"] = await recommendation_load(client, data, args)
            report["messages_at_rate"] = await message_load(
                client, data, args.message_rate, args.message_seconds
            )
    except _Skip:
        pass
    finally:
        if server is not None:
            server.stop()
        if database:
            await dbs.drop_postgres_database(database)
    if args.llm != "none":
        server = start_server(workdir, args, llm=True)
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=300) as client:
                await load_data(client, data, Timings())
                report["with_llm"] = await with_llm(client, data, args.llm_requests)
        finally:
            server.stop()
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


class _Skip(Exception):
    """--only-llm: no plain server."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="recommendations per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--message-rate", type=float, default=100.0)
    parser.add_argument("--message-seconds", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=120)
    parser.add_argument("--per-group", type=int, default=10)
    parser.add_argument("--cache", choices=["memory", "redis"], default="memory")
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the job store's database (postgresql: a fresh database on the test server)",
    )
    parser.add_argument("--llm", choices=["none", "smollm2"], default="none")
    parser.add_argument("--llm-requests", type=int, default=5)
    parser.add_argument("--only-llm", action="store_true", help="skip the server without LLM")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
