"""Adapters on Apache Kafka (or any Kafka-protocol broker), through confluent-kafka."""
