"""How fast the domain event dispatcher drains its outbox: events sent and marked per second.

Appends `--events` events to a fresh outbox (a SQLite file, or `--database-url`), then
runs the dispatcher's rounds (read 100, one acknowledged send, one fenced mark) until
nothing is left, against Redis Streams (`--redis`, the default) or in-process
subscribers (`--memory`). Prints one JSON line.

    .venv/bin/python benchmarks/domain_events.py --events 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from inferline.adapters.memory.locks import InProcessLeaseLock
from inferline.adapters.memory.streams import InProcessStreamSink
from inferline.adapters.redis.streams import RedisStreamSink
from inferline.adapters.sql.domain_outbox import SqlDomainOutbox
from inferline.adapters.sql.store import SqlJobStore
from inferline.application.domain_dispatch import DomainEventDispatcher
from inferline.domain.domain_events import DomainEvent
from inferline.ports.streams import StreamSink


async def main(args: argparse.Namespace) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="domain-events-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{folder / 'outbox.db'}"
    store = SqlJobStore(url)
    await store.start()
    outbox = SqlDomainOutbox(store)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    sink: StreamSink = InProcessStreamSink() if args.memory else RedisStreamSink(args.redis, prefix)
    events = [
        DomainEvent.new("order-placed", f"user-{n % 100}", {"order": n, "total": 12.5}, "t1")
        for n in range(args.events)
    ]
    started = time.perf_counter()
    for start in range(0, len(events), 500):
        await outbox.append(events[start : start + 500])
    appended = time.perf_counter() - started
    dispatcher = DomainEventDispatcher(outbox, sink, InProcessLeaseLock(), holder="bench")
    started = time.perf_counter()
    sent = 0
    while moved := await dispatcher.dispatch_once():
        sent += moved
    drained = time.perf_counter() - started
    if isinstance(sink, RedisStreamSink):
        await sink.client.delete(f"{prefix}:domain.order-placed")
    await sink.close()
    await store.close()
    return {
        "events": sent,
        "database": url.split(":")[0],
        "stream": "memory" if args.memory else "redis",
        "append_events_per_second": round(len(events) / appended),
        "dispatch_events_per_second": round(sent / drained),
        "load_average": os.getloadavg()[0],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--database-url")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--memory", action="store_true")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
