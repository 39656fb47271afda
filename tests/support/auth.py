"""An in-process Inferline with authentication required, and keys for its tenants; the
`inferline` command for the tests that make keys from the shell."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from inferline.application.auth import Authenticator, KeyService
from inferline.bootstrap import Container, Role, build_app, build_container
from inferline.core.settings import Settings
from inferline.models.moving_average import MovingAverage
from inferline.runtime.registry import ModelRegistry
from inferline.testing.polling import poll_until


@dataclass
class SecuredApp:
    """The app, its container and a client (no credentials of its own)."""

    app: FastAPI
    container: Container
    client: TestClient

    @property
    def keys(self) -> KeyService:
        return self.container.auth.keys

    def key(self, tenant: str, scopes: str = "read,submit,admin", **options: Any) -> str:
        """A new key's secret."""
        made = self.client.portal.call(  # type: ignore[union-attr]
            lambda: self.keys.create(tenant, scopes.split(","), **options)
        )
        secret: str = made.secret
        return secret


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def secured_app(
    settings: Settings,
    *,
    auth: bool = True,
    workers: int = 0,
    authenticator: Authenticator | None = None,
) -> Iterator[SecuredApp]:
    """`inferline api` in this process (moving-average only; `workers` job workers),
    with authentication required unless `auth` is false."""
    roles = {Role.API, Role.RELAY} | ({Role.WORKER} if workers else set())
    container = build_container(
        settings.model_copy(update={"models": [MovingAverage.name]}),
        frozenset(roles),
        registry=ModelRegistry([MovingAverage]),
        workers_in_process=workers,
    )
    if authenticator is not None:
        container.auth = authenticator
    app = build_app(container, auth_required=auth)
    with TestClient(app, raise_server_exceptions=False) as client:
        poll_until(lambda: client.get("/readyz").status_code == 200, "the app is ready", timeout=60)
        yield SecuredApp(app, container, client)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def inferline_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`inferline <args>` in a child process with `env`; the caller checks its status."""
    return subprocess.run(
        [sys.executable, "-m", "inferline.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli_key(env: dict[str, str], tenant: str = "acme") -> str:
    """The secret of a new key of `tenant`, made with `inferline keys create` (default scopes)."""
    made = inferline_cli(env, "keys", "create", "--tenant", tenant)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()
