"""The metrics port: what the use cases count and read, without naming Prometheus.

`core/metrics.py` implements it on a Prometheus registry; a use case only increments
labelled counters, sets labelled gauges and reads samples back by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar


class Counter(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class Gauge(Protocol):
    def set(self, value: float) -> None: ...


Child_co = TypeVar("Child_co", covariant=True)


class Labelled(Protocol[Child_co]):
    """A metric family: one child per combination of label values."""

    def labels(self, *values: str) -> Child_co: ...


@dataclass(frozen=True, slots=True)
class Sample:
    """One current value of a metric, e.g. `inferline_batch_size_count{model="minilm"}`."""

    name: str
    labels: Mapping[str, str]
    value: float


class UseCaseMetrics(Protocol):
    """The metrics the application updates, and a way to read every sample."""

    @property
    def jobs(self) -> Labelled[Counter]: ...

    @property
    def sync_requests(self) -> Labelled[Counter]: ...

    @property
    def cache_hits(self) -> Labelled[Counter]: ...

    @property
    def cache_misses(self) -> Labelled[Counter]: ...

    @property
    def stream_records_in(self) -> Labelled[Counter]: ...

    @property
    def stream_records_out(self) -> Labelled[Counter]: ...

    @property
    def stream_dead_lettered(self) -> Labelled[Counter]: ...

    @property
    def stream_lag(self) -> Labelled[Gauge]: ...

    def samples(self) -> Iterable[Sample]:
        """Every sample of every metric, as a scrape would see them."""
        ...

    def sample_value(self, name: str, labels: Mapping[str, str]) -> float | None:
        """One sample's value; None when it has not been recorded."""
        ...
