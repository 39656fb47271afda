"""INFERLINE_EMBEDDING_DEVICE: parsing, the CPU default, GPU batching hints, and a clear
failure at start when cuda is asked for on a machine without one."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from inferline.bootstrap import embedding_settings
from inferline.core.settings import Settings
from inferline.models.minilm import DeviceUnavailable, MiniLM, resolve_device
from inferline.runtime.serving import batching_config
from inferline.testing.server import free_port
from tests.support.auth import inferline_cli


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


no_gpu = pytest.mark.skipif(_has_cuda(), reason="this machine has a CUDA GPU")


def test_the_default_is_the_cpu_with_the_cpu_batching() -> None:
    settings, device = embedding_settings(Settings())
    assert Settings().embedding_device == "cpu" and device == "cpu"
    config = batching_config(MiniLM, settings)
    assert (config.max_batch_size, config.instances) == (64, 2)
    assert MiniLM().rows_per_pass == 32 and MiniLM().variant == "torch"


def test_the_device_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("cpu", "cuda", "auto"):
        monkeypatch.setenv("INFERLINE_EMBEDDING_DEVICE", value)
        assert Settings().embedding_device == value


def test_unknown_devices_and_cuda_with_onnx_are_refused() -> None:
    with pytest.raises(ValidationError, match="embedding_device"):
        Settings(embedding_device="tpu")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="needs embedding_backend torch"):
        Settings(embedding_device="cuda", embedding_backend="onnx")
    with pytest.raises(ValueError, match="needs the torch backend"):
        MiniLM("onnx", device="cuda")


def test_auto_with_onnx_stays_on_the_cpu() -> None:
    settings = Settings(embedding_device="auto", embedding_backend="onnx")
    assert embedding_settings(settings)[1] == "cpu"


def test_a_gpu_model_takes_whole_batches_in_one_pass() -> None:
    model = MiniLM(device="cuda")  # nothing is loaded: no GPU needed to build it
    assert model.rows_per_pass == MiniLM.cuda_rows_per_pass
    assert model.variant == "torch-cuda-fp16"  # another cache key than fp32 vectors


@no_gpu
def test_auto_falls_back_to_the_cpu() -> None:
    assert resolve_device("auto") == "cpu"
    assert embedding_settings(Settings(embedding_device="auto"))[1] == "cpu"


@no_gpu
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(DeviceUnavailable, match="sees no CUDA GPU"):
        embedding_settings(Settings(embedding_device="cuda"))


@no_gpu
def test_serve_with_cuda_but_no_gpu_stops_at_start(tmp_path: os.PathLike[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLINE_")}
    env.update(
        INFERLINE_EMBEDDING_DEVICE="cuda",
        INFERLINE_MODELS="minilm",
        INFERLINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite",
    )
    serve = ["serve", "--port", str(free_port()), "--workers-in-process", "0"]
    done = inferline_cli(env, *serve)
    assert done.returncode == 1
    assert "INFERLINE_EMBEDDING_DEVICE=cuda, but PyTorch sees no CUDA GPU" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not _has_cuda(), reason="no CUDA GPU here")
def test_gpu_hints_sit_under_the_batching_override() -> None:
    settings = Settings.model_validate(
        {"embedding_device": "cuda", "batching": {"minilm": {"instances": 3}}}
    )
    settings, device = embedding_settings(settings)
    config = batching_config(MiniLM, settings)
    assert device == "cuda"
    assert (config.max_batch_size, config.instances) == (MiniLM.cuda_batching["max_batch_size"], 3)
