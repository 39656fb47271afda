"""Jobs and the job-event outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")
SeqType = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Double precision everywhere: a MySQL FLOAT is single precision.
TimeType: sa.Double[float] = sa.Double(asdecimal=False)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", JsonType, nullable=False),
        sa.Column("result", JsonType, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("metadata", JsonType, nullable=False),
        sa.Column("deadline", TimeType, nullable=True),
        sa.Column("created_at", TimeType, nullable=False),
        sa.Column("updated_at", TimeType, nullable=False),
        sa.Column("started_at", TimeType, nullable=True),
        sa.Column("finished_at", TimeType, nullable=True),
        sa.Column("available_at", TimeType, nullable=False),
        sa.Column("lease_until", TimeType, nullable=True),
        sa.Column("worker_id", sa.String(64), nullable=True),
    )
    op.create_index(
        "uq_jobs_tenant_idempotency", "jobs", ["tenant", "idempotency_key"], unique=True
    )
    # priority DESC: a claim's ORDER BY priority DESC, id is then a plain index scan
    op.create_index("ix_jobs_claim", "jobs", ["model", "status", sa.text("priority DESC"), "id"])
    op.create_index("ix_jobs_lease", "jobs", ["status", "lease_until"])
    op.create_index("ix_jobs_tenant_list", "jobs", ["tenant", "id"])
    op.create_index("ix_jobs_tenant_status", "jobs", ["tenant", "status", "id"])

    op.create_table(
        "job_events",
        sa.Column("seq", SeqType, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", TimeType, nullable=False),
        sa.Column("payload", JsonType, nullable=False),
        sa.Column("published_at", TimeType, nullable=True),
    )
    op.create_index("ix_job_events_job", "job_events", ["job_id", "seq"])
    op.create_index("ix_job_events_at", "job_events", ["at"])
    op.create_index("ix_job_events_unpublished", "job_events", ["published_at", "seq"])


def downgrade() -> None:
    op.drop_table("job_events")
    op.drop_table("jobs")
