"""The Kafka adapters' bookkeeping, without a broker: commit positions, the relay's record of
what waits in a topic, URLs and settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inferline.adapters.kafka.config import KafkaConfig
from inferline.adapters.kafka.offsets import PartitionOffsets
from inferline.adapters.kafka.queue import DispatchLog, PartitionPositions
from inferline.core.settings import Settings, StreamRoute


def test_the_commit_position_is_the_lowest_record_not_done() -> None:
    offsets = PartitionOffsets()
    assert offsets.to_commit() is None  # nothing handed out: nothing to commit
    for offset in range(10, 15):
        offsets.handed_out(offset)
    assert offsets.position() == 10
    for offset in (11, 12, 14):
        assert offsets.done(offset)
    assert offsets.position() == 10  # 10 is still running: 11-14 may be read again
    assert offsets.done(10)
    assert offsets.to_commit() == 13
    offsets.committed = 13
    assert offsets.to_commit() is None
    assert offsets.done(13)
    assert offsets.to_commit() == 15  # all done: one past the last handed out
    assert not offsets.done(13)  # not outstanding any more


def test_the_dispatch_log_forgets_what_the_group_committed_past() -> None:
    log = DispatchLog()
    for offset, job in enumerate(["a", "b", "c"]):
        log.record("t", 0, offset, job)
    log.settle("t", PartitionPositions(committed={0: 2}, ends={0: 3}))
    assert [log.waiting("t", j) for j in "abc"] == [False, False, True]


@pytest.mark.parametrize(
    ("positions", "why"),
    [
        (PartitionPositions(committed={}, ends={}), "the topic is gone"),
        (PartitionPositions(committed={0: 1}, ends={0: 0}), "the log is empty"),
    ],
)
def test_a_partition_the_broker_lost_is_forgotten(positions: PartitionPositions, why: str) -> None:
    log = DispatchLog()
    log.record("t", 0, 5, "a")
    log.settle("t", positions)
    assert not log.waiting("t", "a"), why


def test_a_group_that_forgot_its_offsets_resets_the_partition() -> None:
    log = DispatchLog()
    log.record("t", 0, 0, "a")
    log.record("t", 0, 1, "b")
    log.settle("t", PartitionPositions(committed={0: 1}, ends={0: 2}))
    assert log.waiting("t", "b")
    log.settle("t", PartitionPositions(committed={}, ends={0: 2}))  # offsets gone
    assert not log.waiting("t", "b")


def test_an_offset_given_twice_means_the_log_started_again() -> None:
    log = DispatchLog()
    log.record("t", 0, 7, "a")
    log.record("t", 0, 0, "b")  # the restarted broker's first record
    assert not log.waiting("t", "a") and log.waiting("t", "b")


def test_kafka_urls_name_the_brokers_and_pass_client_settings() -> None:
    config = KafkaConfig.from_url(
        "kafka://b1:9092,b2:9092?security.protocol=SSL", topic_prefix="prod."
    )
    assert config.bootstrap_servers == "b1:9092,b2:9092"
    assert config.producer()["security.protocol"] == "SSL"
    assert config.producer()["enable.idempotence"] is True
    assert config.group_consumer("g")["enable.auto.commit"] is False
    assert config.topic("inference_results") == "prod.inference_results"
    with pytest.raises(ValueError, match="not a Kafka URL"):
        KafkaConfig.from_url("kafka://")


def test_settings_accept_kafka_and_stream_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERLINE_QUEUE_URL", "kafka://127.0.0.1:9092")
    monkeypatch.setenv("INFERLINE_EVENTS_URL", "kafka://127.0.0.1:9092")
    monkeypatch.setenv(
        "INFERLINE_STREAM_ROUTES", '[{"topic": "news.raw", "model": "minilm", "id_field": "id"}]'
    )
    settings = Settings()
    [route] = settings.stream_routes
    assert (route.results_topic, route.dead_letters_topic) == (
        "news.raw.results",
        "news.raw.dead-letter",
    )
    assert settings.stream_broker_url() == "kafka://127.0.0.1:9092"


def test_stream_routes_need_a_broker_and_valid_topic_names() -> None:
    with pytest.raises(ValidationError, match="need a broker"):
        Settings(stream_routes=[StreamRoute(topic="t", model="m")])
    with pytest.raises(ValidationError, match="topic"):
        StreamRoute(topic="bad topic", model="m")
    with pytest.raises(ValidationError, match="cache"):
        Settings(cache_url="kafka://127.0.0.1:9092")
