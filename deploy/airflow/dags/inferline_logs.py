"""Inferline's log batch jobs for Airflow 2 (2.7 or later), run as shell commands.

Inferline runs these jobs on its own schedule; these DAGs are for sites that run their
batch jobs in Airflow instead (source S4's data-quality check and log aggregation, see
docs/logs.md, "Deployment"). Each task calls the `inferline` command, which must be
installed on the Airflow workers with the deployment's settings in their environment
(INFERLINE_DATABASE_URL or INFERLINE_DATABASE_URL_FILE, ...). A non-zero exit fails the
task: `inferline logs quality` exits 1 when a check failed, so the failure is retried and
then alerts like any other task failure.

- `inferline_logs_quality`: daily, for the day that just ended (`{{ ds }}`).
- `inferline_logs_aggregation`: hourly, for the hour that just ended; re-running an hour
  replaces its counts, so retries and backfills are safe.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

QUALITY_COMMAND = "inferline logs quality --date {{ ds }}"
# The data interval's start hour in UTC, the form `--hour` takes: 2024-01-15T10.
AGGREGATE_COMMAND = (
    "inferline logs aggregate --hour {{ data_interval_start.strftime('%Y-%m-%dT%H') }}"
)

DEFAULT_ARGS = {
    "owner": "inferline",
    "depends_on_past": False,
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

with DAG(
    dag_id="inferline_logs_quality",
    description="Inferline: data-quality check of the day's log lines",
    schedule="30 0 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["inferline", "logs"],
) as quality_dag:
    BashOperator(
        task_id="quality",
        bash_command=QUALITY_COMMAND,
        sla=timedelta(hours=2),
        execution_timeout=timedelta(hours=1),
    )

with DAG(
    dag_id="inferline_logs_aggregation",
    description="Inferline: counts of the hour's log lines by service, level and template",
    schedule="5 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["inferline", "logs"],
) as aggregation_dag:
    BashOperator(
        task_id="aggregate",
        bash_command=AGGREGATE_COMMAND,
        sla=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=20),
    )
