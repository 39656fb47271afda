"""Creating Inferline's topics when they are missing (with the configured partitions)."""

from __future__ import annotations

import asyncio
import logging
import threading

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from inferline.adapters.kafka.config import KafkaConfig

log = logging.getLogger(__name__)

ADMIN_TIMEOUT_SECONDS = 10.0


class TopicAdmin:
    """Ensures topics exist; remembers which it has seen, until told to forget."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self._known: set[str] = set()
        self._lock = threading.Lock()
        self._admin: AdminClient | None = None

    def _client(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self.config.common())
        return self._admin

    def ensure_sync(self, topics: list[str]) -> None:
        """Create the topics that do not exist (blocking; call it off the event loop)."""
        with self._lock:
            wanted = [t for t in dict.fromkeys(topics) if t not in self._known]
            if not wanted:
                return
            client = self._client()
            existing = client.list_topics(timeout=ADMIN_TIMEOUT_SECONDS).topics
            new = [
                NewTopic(t, num_partitions=self.config.partitions, replication_factor=-1)
                for t in wanted
                if t not in existing
            ]
            if new:
                futures = client.create_topics(new, request_timeout=ADMIN_TIMEOUT_SECONDS)
                for topic, future in futures.items():
                    try:
                        future.result()
                        log.info("created topic %s (%d partitions)", topic, self.config.partitions)
                    except KafkaException as exc:
                        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                            raise
            self._known.update(wanted)

    async def ensure(self, topics: list[str]) -> None:
        """`ensure_sync` in a thread."""
        if any(t not in self._known for t in topics):
            await asyncio.to_thread(self.ensure_sync, topics)

    def forget(self) -> None:
        """The broker may have lost its topics (it restarted empty): check again next time."""
        with self._lock:
            self._known.clear()

    def ping_sync(self) -> None:
        """Raise unless the broker answers a metadata request."""
        self._client().list_topics(timeout=ADMIN_TIMEOUT_SECONDS)

    def partitions_sync(self, topic: str) -> list[int]:
        """The partition ids of `topic` (empty when it does not exist)."""
        metadata = self._client().list_topics(topic, timeout=ADMIN_TIMEOUT_SECONDS)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return []
        return sorted(found.partitions)
