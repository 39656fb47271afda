"""Where the Kafka broker is and how Inferline names and configures its topics and clients.

`kafka://host:port[,host:port]` names the bootstrap servers; query parameters are
passed to librdkafka as they are (`kafka://b1:9092?security.protocol=SSL`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

KAFKA_SCHEMES = ("kafka",)


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """Broker address, extra client settings, topic prefix and group timings."""

    bootstrap_servers: str
    topic_prefix: str = ""
    partitions: int = 12
    session_timeout_ms: int = 10_000
    client: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        topic_prefix: str = "",
        partitions: int = 12,
        session_timeout_ms: int = 10_000,
    ) -> KafkaConfig:
        parts = urlsplit(url)
        if parts.scheme not in KAFKA_SCHEMES or not parts.netloc:
            raise ValueError(f"not a Kafka URL (kafka://host:port[,host:port]): {url!r}")
        return cls(
            bootstrap_servers=parts.netloc,
            topic_prefix=topic_prefix,
            partitions=partitions,
            session_timeout_ms=session_timeout_ms,
            client=dict(parse_qsl(parts.query)),
        )

    def topic(self, name: str) -> str:
        """The broker's name of one of Inferline's topics: the prefix, then `name`."""
        return f"{self.topic_prefix}{name}"

    def common(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": "inferline",
            "socket.keepalive.enable": True,
            "reconnect.backoff.max.ms": 2000,
            **self.client,
        }

    def producer(self) -> dict[str, Any]:
        """Idempotent, acknowledged by every in-sync replica, at most 100 records a batch."""
        return {
            **self.common(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "batch.num.messages": 100,
            "message.timeout.ms": 15_000,
            "partitioner": "murmur2_random",  # the Java client's: same key, same partition
            **self.client,
        }

    def group_consumer(self, group: str) -> dict[str, Any]:
        """A consumer-group member that commits offsets itself, and only what is done."""
        heartbeat = max(100, self.session_timeout_ms // 10)
        return {
            **self.common(),
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": heartbeat,
            # the polling thread never stops polling (it pauses partitions instead), so a
            # short poll interval only bounds how long a rebalance waits for a stuck member
            "max.poll.interval.ms": max(30_000, 3 * self.session_timeout_ms),
            "topic.metadata.refresh.interval.ms": 5000,
            "queued.max.messages.kbytes": 4096,
            **self.client,
        }

    def tail_consumer(self) -> dict[str, Any]:
        """A reader of whole topics from their end on: assigned partitions, no group, no commit."""
        return {
            **self.common(),
            "group.id": "inferline-tail",  # required by the client; never joined or committed
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "latest",
            "topic.metadata.refresh.interval.ms": 5000,
            **self.client,
        }
