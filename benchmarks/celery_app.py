"""The Celery side of `benchmarks/distributed.py`: the same moving-average job as a task.

Broker and result backend are Redis (CELERY_BROKER_URL, CELERY_RESULT_BACKEND);
`acks_late=True` so a killed worker's task is redelivered rather than lost.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery(
    "inferline_bench",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/0"),
)
app.conf.update(
    task_acks_late=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="moving_average")
def moving_average(series: list[float], window: int) -> dict[str, object]:
    """Simple moving average and a one-step forecast (what Inferline's model computes)."""
    sums = [0.0]
    for value in series:
        sums.append(sums[-1] + value)
    smoothed = [(sums[i + window] - sums[i]) / window for i in range(len(series) - window + 1)]
    return {"smoothed": smoothed, "forecast": smoothed[-1]}
