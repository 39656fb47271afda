"""The store queries behind the dashboard, on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import time

from inferline.adapters.sql.store import SqlJobStore
from inferline.domain.jobs import NewJob, Outcome, OutcomeKind, RetryPolicy


def _job(number: int) -> NewJob:
    return NewJob(
        id=f"00000000-0000-0000-0000-{number:012d}",
        tenant="default",
        model="echo",
        model_version="1",
        input={"x": number},
        max_attempts=1,
    )


async def test_finished_jobs_counts_and_leases(store_url: str) -> None:
    store = SqlJobStore(store_url)
    await store.start()
    try:
        started = time.time() - 1
        await store.create_jobs([_job(n) for n in range(4)])
        claimed = await store.claim_jobs("echo", 3, "worker-a", 30)
        assert await store.active_workers() == {"worker-a": 3}
        await store.complete_jobs(
            [
                Outcome(claimed[0].id, 1, OutcomeKind.SUCCEEDED, result={"y": 0}),
                Outcome(claimed[1].id, 1, OutcomeKind.SUCCEEDED, result={"y": 1}),
                Outcome(claimed[2].id, 1, OutcomeKind.FAILED, error="boom"),
            ],
            RetryPolicy(),
        )
        assert await store.active_workers() == {}
        assert await store.finished_counts("default", started) == {
            "echo": {"succeeded": 2, "dead": 1}
        }
        assert await store.finished_counts("other-tenant", started) == {}
        assert await store.finished_counts(None, time.time() + 60) == {}
        newest = await store.finished_events("default", limit=2)
        assert [e.status.value for e in newest] == ["dead", "succeeded"]
        assert newest[1].job["result"] is not None
        assert len(await store.finished_events(None, since=started)) == 3
    finally:
        await store.close()
