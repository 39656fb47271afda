"""Server processes that serve the test models of `tests.support.models`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from inferline.testing.server import ServerProcess, http_server, sqlite_url
from tests.support.models import GATE_DIR_ENV, GATED_PLUGIN, seen_values

REPO_ROOT = Path(__file__).resolve().parents[2]


def with_test_models(process: ServerProcess) -> ServerProcess:
    """Let the process import `tests.support` (keeping any PYTHONPATH it already has)."""
    paths = [str(REPO_ROOT), process.env.get("PYTHONPATH", "")]
    process.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return process


@dataclass
class GatedServer:
    """`inferline serve` with the `test-gated` model, and the directory of its gate."""

    server: ServerProcess
    gate_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    def open_gate(self) -> None:
        """Let held batches finish."""
        (self.gate_dir / "open").touch()

    def seen(self) -> list[list[float]]:
        """The values of each batch that reached the model, in order."""
        return seen_values(self.gate_dir)


def gated_server(tmp_path: Path, **settings: str) -> GatedServer:
    """A started, ready `inferline serve` with the gated test model on a fresh SQLite file."""
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    server = with_test_models(
        http_server(
            "serve",
            sqlite_url(tmp_path / "jobs.db"),
            tmp_path / "server.log",
            models="test-gated",
            model_plugins=GATED_PLUGIN,
            **settings,
        )
    )
    server.env[GATE_DIR_ENV] = str(gate_dir)
    server.start().wait_ready()
    return GatedServer(server, gate_dir)


def metric_value(metrics_text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition, None when absent."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None
