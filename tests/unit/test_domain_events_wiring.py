"""The composition root's domain events: a relay process runs the dispatcher; embedded
(no broker, no Redis) it sends to in-process subscribers under an in-process lock; an
app's transaction appends through `domain_event_appender()`; `/health` shows it."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import insert

from inferline.adapters.memory.locks import InProcessLeaseLock
from inferline.adapters.memory.streams import InProcessStreamSink
from inferline.adapters.redis.locks import RedisLeaseLock
from inferline.adapters.sql.locks import SqlLeaseLock
from inferline.adapters.sql.schema import workers
from inferline.adapters.sql.store import SqlJobStore
from inferline.api.presenters import health_view
from inferline.bootstrap import (
    Role,
    build_container,
    build_lease_lock,
    domain_event_appender,
)
from inferline.core.settings import Settings
from inferline.domain.domain_events import DomainEvent
from inferline.ports.streams import OutRecord
from inferline.runtime.registry import ModelRegistry
from inferline.testing.polling import poll_until_async


async def test_an_embedded_relay_dispatches_what_an_apps_transaction_appended(
    db_url: str,
) -> None:
    settings = Settings(database_url=db_url, models=[])
    container = build_container(settings, frozenset({Role.RELAY}), registry=ModelRegistry([]))
    dispatcher = container.domain_events_dispatcher
    assert dispatcher is not None
    assert isinstance(dispatcher.sink, InProcessStreamSink)
    assert isinstance(dispatcher.lock, SqlLeaseLock)  # no Redis: a row in the database
    received: list[OutRecord] = []

    async def subscriber(record: OutRecord) -> None:
        received.append(record)

    dispatcher.sink.subscribe(subscriber, "domain.order-placed")
    await container.start()
    try:
        store = container.store
        assert isinstance(store, SqlJobStore)
        append = domain_event_appender()
        event = DomainEvent.new("order-placed", "user-1", {"order": "o-1"}, "default")
        async with store.writer.begin() as conn:  # an app's change and its event
            await conn.execute(
                insert(workers),
                {
                    "id": "w",
                    "host": "h",
                    "pid": 1,
                    "models": [],
                    "in_flight": 0,
                    "started_at": 0.0,
                    "heartbeat_at": 0.0,
                },
            )
            await append(conn, [event])
        dispatcher.wake()
        await poll_until_async(lambda: len(received), "the event delivered", timeout=10)
        assert json.loads(received[0].value)["id"] == event.id
        component = health_view(container.plane.health())["components"]["domain_events"]
        assert component["leader"] is True and component["sent"] == 1
    finally:
        await container.stop()


def test_the_lock_is_on_redis_when_redis_is_configured(db_url: str) -> None:
    redis = "redis://127.0.0.1:6379/0"
    store = SqlJobStore(db_url)
    assert isinstance(build_lease_lock(Settings(cache_url=redis), store), RedisLeaseLock)
    assert isinstance(build_lease_lock(Settings(domain_events_url=redis), store), RedisLeaseLock)
    assert isinstance(build_lease_lock(Settings(), store), SqlLeaseLock)
    memory = Settings(domain_events_lock_url="memory://")
    assert isinstance(build_lease_lock(memory, store), InProcessLeaseLock)
    assert (
        Settings(events_url="kafka://127.0.0.1:9092")
        .domain_events_broker_url()
        .startswith("kafka://")
    )
    with pytest.raises(ValidationError, match="domain_events_lock_url"):
        Settings(domain_events_lock_url="kafka://127.0.0.1:9092")
    with pytest.raises(ValidationError, match="domain_events_topic_prefix"):
        Settings(domain_events_topic_prefix="bad prefix")
