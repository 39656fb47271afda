"""Inferline's log batch jobs for Airflow 2 (2.7 or later) on Kubernetes: each run is a
pod of Inferline's own image, in Inferline's namespace, with its Secret mounted the way
deploy/k8s mounts it (the database URL as a file). Needs the provider package
apache-airflow-providers-cncf-kubernetes (7.0 or later) and an Airflow whose Kubernetes
connection may create pods in that namespace.

The same commands and schedules as inferline_logs.py (see its docstring); set the
constants below to your deployment's namespace and image. Settings other than the
database come from ENV_VARS (the overlay's ConfigMap has a generated name, so the pods do
not read it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret

NAMESPACE = "inferline"
IMAGE = "registry.example.com/inferline:0.1.0"
SECRETS_DIR = "/run/secrets/inferline"
ENV_VARS = {
    "INFERLINE_DATABASE_URL_FILE": f"{SECRETS_DIR}/database-url",
    "INFERLINE_LOG_FORMAT": "json",
}

QUALITY_ARGUMENTS = ["logs", "quality", "--date", "{{ ds }}"]
AGGREGATE_ARGUMENTS = [
    "logs",
    "aggregate",
    "--hour",
    "{{ data_interval_start.strftime('%Y-%m-%dT%H') }}",
]

DEFAULT_ARGS = {
    "owner": "inferline",
    "depends_on_past": False,
    "retries": 3,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}


def inferline_pod(task_id: str, arguments: list[str], **kwargs: object) -> KubernetesPodOperator:
    """A pod of the `inferline` command, unprivileged like deploy/k8s's pods."""
    return KubernetesPodOperator(
        task_id=task_id,
        name=f"inferline-logs-{task_id}",
        namespace=NAMESPACE,
        image=IMAGE,
        arguments=arguments,
        env_vars=ENV_VARS,
        secrets=[Secret("volume", SECRETS_DIR, "inferline-secrets")],
        service_account_name="inferline",
        labels={"app.kubernetes.io/name": "inferline", "app.kubernetes.io/component": "batch"},
        security_context={
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        container_security_context={
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        container_resources={"requests": {"cpu": "250m", "memory": "512Mi"}},
        get_logs=True,
        on_finish_action="delete_pod",
        **kwargs,
    )


with DAG(
    dag_id="inferline_logs_quality_k8s",
    description="Inferline: data-quality check of the day's log lines (a pod)",
    schedule="30 0 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["inferline", "logs", "kubernetes"],
) as quality_dag:
    inferline_pod(
        "quality",
        QUALITY_ARGUMENTS,
        sla=timedelta(hours=2),
        execution_timeout=timedelta(hours=1),
    )

with DAG(
    dag_id="inferline_logs_aggregation_k8s",
    description="Inferline: hourly counts of log lines (a pod)",
    schedule="5 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["inferline", "logs", "kubernetes"],
) as aggregation_dag:
    inferline_pod(
        "aggregate",
        AGGREGATE_ARGUMENTS,
        sla=timedelta(minutes=30),
        execution_timeout=timedelta(minutes=20),
    )
