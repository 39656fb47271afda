"""`inferline consume`: records of a topic become jobs, results and dead letters go to topics,
on Kafka and on Redis Streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.streams import KafkaStreamSink
from inferline.adapters.redis.streams import RedisStreamSink, stream_key
from inferline.ports.streams import OutRecord, StreamSink
from inferline.testing import databases as dbs
from inferline.testing.kafka import read_topic
from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, free_port, server_env
from inferline.testing.services import PrivateKafka
from tests.support.requirements import require_server

GOOD = [{"id": f"a{i}", "series": [1.0, 2.0, 3.0, float(i)], "window": 2} for i in range(20)]
BAD = [
    (b"{not json", "not_json"),
    (json.dumps({"id": "b1", "series": "oops"}).encode(), "invalid_input"),
    (json.dumps({"series": [1.0, 2.0]}).encode(), "missing_id"),
]


@dataclass
class Engine:
    """One broker for the route, with the settings that point Inferline at it."""

    name: str
    url: str
    settings: dict[str, str]
    new_sink: Callable[[], StreamSink]

    def read(self, topic: str, n: int) -> list[dict[str, Any]]:
        """The first records of `topic` once there are `n` (and no more come)."""
        if self.name == "kafka":
            config = KafkaConfig.from_url(
                self.url, topic_prefix=self.settings["kafka_topic_prefix"]
            )
            records = read_topic(config, config.topic(topic), until=lambda r: len(r) >= n)
            return [json.loads(value) for _key, value in records]
        key = stream_key(self.settings["redis_prefix"], topic)

        found: list[dict[str, Any]] = poll_until(
            lambda: asyncio.run(_xrange(self.url, key)),
            f"{n} records on {key}",
            timeout=30,
            accept=lambda records: len(records) >= n,
        )
        return found


async def _xrange(url: str, key: str) -> list[dict[str, Any]]:
    from redis.asyncio import Redis

    client = Redis.from_url(url, decode_responses=True)
    try:
        entries = cast(list[tuple[str, dict[str, str]]], await client.xrange(key))
        return [json.loads(fields["value"]) for _id, fields in entries]
    finally:
        await client.aclose()


@pytest.fixture(params=["kafka", "redis"])
def engine(request: pytest.FixtureRequest, kafka_prefix: str, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "kafka":
        broker: PrivateKafka = request.getfixturevalue("kafka_broker")
        config = KafkaConfig.from_url(broker.url, topic_prefix=kafka_prefix)
        settings = {"kafka_topic_prefix": kafka_prefix, "kafka_session_timeout_ms": "6000"}
        yield Engine("kafka", broker.url, settings, lambda: KafkaStreamSink(config))
        return
    require_server(dbs.REDIS)
    prefix = dbs.unique_name("inferline-streams")
    url = dbs.redis_url()
    yield Engine("redis", url, {"redis_prefix": prefix}, lambda: RedisStreamSink(url, prefix))
    asyncio.run(dbs.delete_redis_prefix(prefix))


def send(engine: Engine, topic: str, values: list[bytes]) -> None:
    """Write records as any producer of the input topic would."""

    async def run() -> None:
        sink = engine.new_sink()
        try:
            await sink.send([OutRecord(topic, f"k{i}", v) for i, v in enumerate(values)])
        finally:
            await sink.close()

    asyncio.run(run())


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or line.startswith(f"{name}{{{wanted},"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_consume_turns_records_into_jobs_results_and_dead_letters(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    metrics_port = free_port()
    env = server_env(db_url, models="moving-average", streams_url=engine.url, **engine.settings)
    consume = ServerProcess(
        [
            "consume",
            "--topic",
            "news.raw",
            "--model",
            "moving-average",
            "--output-topic",
            "news.scored",
            "--id-field",
            "id",
            "--metrics-port",
            str(metrics_port),
        ],
        env,
        tmp_path / "consume.log",
    ).start()
    try:
        records = [json.dumps(v).encode() for v in GOOD]
        # a record sent twice (same id): one job, one result
        send(engine, "news.raw", [*records[:10], records[3], *(b for b, _ in BAD)])
        send(engine, "news.raw", records[10:])
        results = engine.read("news.scored", len(GOOD))
        letters = engine.read("news.raw.dead-letter", len(BAD))
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    except Exception as exc:
        raise AssertionError(f"{exc!r}\n{consume.log_tail()}") from None
    finally:
        consume.stop()
    assert sorted(r["source"]["id"] for r in results) == sorted(str(v["id"]) for v in GOOD)
    assert len({r["job_id"] for r in results}) == len(GOOD)
    assert all(r["status"] == "succeeded" and r["result"]["forecast"] for r in results)
    assert sorted(letter["reason"] for letter in letters) == sorted(reason for _, reason in BAD)
    by_reason = {letter["reason"]: letter for letter in letters}
    assert by_reason["not_json"]["value"] == "{not json"
    assert "series" in by_reason["invalid_input"]["error"]
    assert "'id'" in by_reason["missing_id"]["error"]
    assert metric(scraped, "inferline_stream_records_in_total", topic="news.raw") == 24
    assert metric(scraped, "inferline_stream_records_out_total", topic="news.raw") == len(GOOD)
    for _value, reason in BAD:
        assert (
            metric(scraped, "inferline_stream_dead_lettered_total", topic="news.raw", reason=reason)
            == 1
        )
