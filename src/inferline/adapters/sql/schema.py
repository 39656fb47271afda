"""Tables of the SQL job store. Times are UNIX seconds (double precision) on every engine."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, text

from inferline.adapters.sql.column_types import JsonType, SeqType, TimeType

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("input", JsonType, nullable=False),
    Column("result", JsonType, nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("priority", Integer, nullable=False, default=0),
    Column("idempotency_key", String(255), nullable=True),
    Column("metadata", JsonType, nullable=False),
    Column("deadline", TimeType, nullable=True),
    Column("created_at", TimeType, nullable=False),
    Column("updated_at", TimeType, nullable=False),
    Column("started_at", TimeType, nullable=True),
    Column("finished_at", TimeType, nullable=True),
    Column("available_at", TimeType, nullable=False),
    Column("lease_until", TimeType, nullable=True),
    Column("worker_id", String(64), nullable=True),
    Index("uq_jobs_tenant_idempotency", "tenant", "idempotency_key", unique=True),
    # priority DESC so that a claim's ORDER BY priority DESC, id is a plain index scan
    Index("ix_jobs_claim", "model", "status", text("priority DESC"), "id"),
    Index("ix_jobs_lease", "status", "lease_until"),
    Index("ix_jobs_tenant_list", "tenant", "id"),
    Index("ix_jobs_tenant_status", "tenant", "status", "id"),
)

job_events = Table(
    "job_events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("job_id", String(36), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("type", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", TimeType, nullable=False),
    Column("payload", JsonType, nullable=False),
    Column("published_at", TimeType, nullable=True),
    Index("ix_job_events_job", "job_id", "seq"),
    Index("ix_job_events_at", "at"),
    Index("ix_job_events_unpublished", "published_at", "seq"),
)

# One row per running worker, refreshed by its heartbeat: the dashboard's liveness view
# (a worker in another process that holds no job is otherwise invisible to the API).
workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("models", JsonType, nullable=False),
    Column("in_flight", Integer, nullable=False),
    Column("started_at", TimeType, nullable=False),
    Column("heartbeat_at", TimeType, nullable=False),
)

# One row per model, locked (SELECT ... FOR UPDATE) by a submit that must count the
# model's waiting jobs exactly: admissions near the queue limit take turns, database-wide.
# SQLite needs no row: its writer transaction (BEGIN IMMEDIATE) is already the only one.
queue_locks = Table(
    "queue_locks",
    metadata,
    Column("model", String(128), primary_key=True),
)

# The transactional outbox of domain events (apps' facts, `domain/domain_events.py`):
# written with the change that causes them, sent to the event stream by the domain event
# dispatcher (`application/domain_dispatch.py`), deleted a retention after they were sent.
domain_outbox = Table(
    "domain_outbox",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("key", String(255), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("payload", JsonType, nullable=False),
    Column("occurred_at", TimeType, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TimeType, nullable=False),
    Column("sent_at", TimeType, nullable=True),
    Column("last_error", Text, nullable=True),
    # the dispatcher's read: unsent events in seq order (an ordered scan that stops at
    # the batch size; events still waiting for a retry are skipped on the way)
    Index("ix_domain_outbox_unsent", "sent_at", "seq"),
)

# The highest fencing token a dispatcher presented (one row per dispatcher name): the
# outbox refuses to mark events sent under a lower token, in the mark's own transaction.
domain_outbox_fence = Table(
    "domain_outbox_fence",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("token", BigInteger, nullable=False),
)

# Which consumer applied which domain event, written in the consumer's own transaction
# (`consume_domain_event_once`): a database effect of an event then happens exactly once.
domain_events_consumed = Table(
    "domain_events_consumed",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(32), primary_key=True),
    Column("consumed_at", TimeType, nullable=False),
    Index("ix_domain_events_consumed_at", "consumed_at"),
)

# Lease locks in the database (`adapters/sql/locks.py`): one row per lock name, with its
# holder, when its lease ends and the fencing token of the last acquisition. The lock of
# deployments without Redis (every process shares the database).
lease_locks = Table(
    "lease_locks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(255), nullable=True),
    Column("token", BigInteger, nullable=False),
    Column("lease_until", TimeType, nullable=False),
)

# API keys (migration 0006): the public prefix finds a key, the digest checks it.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("digest", String(128), nullable=False),
    Column("scheme", String(16), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("scopes", JsonType, nullable=False),
    Column("name", String(200), nullable=True),
    Column("created_at", TimeType, nullable=False),
    Column("expires_at", TimeType, nullable=True),
    Column("revoked_at", TimeType, nullable=True),
    Column("rate_limit", String(64), nullable=True),
    Column("max_concurrent_jobs", Integer, nullable=True),
    Index("ix_api_keys_tenant", "tenant", "created_at"),
)
