"""What tests expect of a store's submissions."""

from __future__ import annotations

from inferline.domain.jobs import Job, QueueFull


def admitted(results: list[tuple[Job, bool] | QueueFull]) -> list[tuple[Job, bool]]:
    """The (job, created) pairs of a submission that no queue limit refused."""
    refused = [r for r in results if isinstance(r, QueueFull)]
    assert not refused, f"the store refused {len(refused)} job(s): {refused[0]}"
    return [r for r in results if not isinstance(r, QueueFull)]
