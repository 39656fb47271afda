"""Batching settings: the model's hints, the INFERLINE_BATCHING overrides, threads per instance."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from inferline.core.settings import Settings
from inferline.models.minilm import MiniLM
from inferline.models.moving_average import MovingAverage
from inferline.runtime.serving import batching_config, threads_per_instance


def test_the_model_hints_apply_without_overrides() -> None:
    config = batching_config(MiniLM, Settings(max_pending_sync=7))
    assert (config.max_batch_size, config.max_wait_ms, config.instances) == (64, 5.0, 2)
    assert config.max_pending_sync == 7
    assert batching_config(MovingAverage, Settings()).instances == 1


def test_overrides_replace_only_what_they_name() -> None:
    settings = Settings.model_validate({"batching": {"minilm": {"instances": 3, "max_wait_ms": 0}}})
    config = batching_config(MiniLM, settings)
    assert (config.max_batch_size, config.max_wait_ms, config.instances) == (64, 0.0, 3)


def test_batching_overrides_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERLINE_BATCHING", '{"minilm": {"instances": 4}}')
    assert batching_config(MiniLM, Settings()).instances == 4


def test_nonsense_instances_are_refused() -> None:
    with pytest.raises(ValidationError, match="instances"):
        Settings.model_validate({"batching": {"minilm": {"instances": 0}}})


def test_instances_share_the_cores_of_this_process() -> None:
    cores = len(os.sched_getaffinity(0))
    assert threads_per_instance(1) == cores
    assert threads_per_instance(2) == max(1, cores // 2)
    assert threads_per_instance(cores * 4) == 1
