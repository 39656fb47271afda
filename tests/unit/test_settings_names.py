"""Renamed settings keep reading their old environment variable."""

from __future__ import annotations

import pytest

from inferline.core.settings import Settings


@pytest.mark.parametrize(
    "variable", ["INFERLINE_IN_FLIGHT_PER_MODEL", "INFERLINE_INFLIGHT_PER_MODEL"]
)
def test_jobs_in_flight_per_model_is_read_from_the_new_and_the_old_name(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "7")
    assert Settings().in_flight_per_model == 7


def test_jobs_in_flight_per_model_can_be_given_by_name() -> None:
    assert Settings(in_flight_per_model=3).in_flight_per_model == 3
    assert Settings().in_flight_per_model is None
