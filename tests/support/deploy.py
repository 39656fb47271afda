"""What the deployment tests share: the repository's deploy files, and the check that an
environment variable a manifest sets is one of Inferline's settings."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from inferline.core.metrics import Metrics
from inferline.core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
PREFIX = "INFERLINE_"


def settings_classes() -> list[type[BaseSettings]]:
    """Settings and the apps' own settings classes (`inferline.apps.<app>.*settings`
    modules, e.g. INFERLINE_RECSYS_*), each read from its own prefix."""
    import inferline.apps

    found: list[type[BaseSettings]] = [Settings]
    for module_info in pkgutil.walk_packages(inferline.apps.__path__, "inferline.apps."):
        if not module_info.name.rsplit(".", 1)[-1].endswith("settings"):
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def setting_names() -> frozenset[str]:
    """Every `INFERLINE_<NAME>` the settings read (field names and their aliases)."""
    names: set[str] = set()
    for settings in settings_classes():
        prefix = str(settings.model_config.get("env_prefix") or "").upper()
        for name, field in settings.model_fields.items():
            names.add(prefix + name.upper())
            alias = field.validation_alias
            for choice in getattr(alias, "choices", ()):
                if isinstance(choice, str) and choice.startswith(PREFIX):
                    names.add(choice)
    return frozenset(name for name in names if name.startswith(PREFIX))


def env_name_problem(name: str) -> str | None:
    """Why `name` is not an Inferline setting a deployment may set, or None when it is.
    `INFERLINE_<NAME>_FILE` names a file holding setting <NAME> (mounted secrets)."""
    if not name.startswith(PREFIX):
        return None  # not ours (HF_HUB_OFFLINE, OMP_THREAD_LIMIT, …)
    known = setting_names()
    if name in known:
        return None
    base = name.removesuffix("_FILE")
    if base != name and base in known:
        return None
    return f"{name} is not a setting of src/inferline/core/settings.py"


def validated_settings(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a process gets from exactly `env` (files named by *_FILE left out:
    they exist only where the secret is mounted). Raises on a value Settings, or an app's
    settings, refuses."""
    import os

    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith(PREFIX) and not name.endswith("_FILE"):
            monkeypatch.setenv(name, value)
    for settings in settings_classes()[1:]:
        settings()  # the apps' settings refuse their bad values too
    return Settings()


def metric_names() -> frozenset[str]:
    """The names of every metric Inferline exports (as Prometheus sees them)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return frozenset(names)


def http_routes(folder: Path) -> frozenset[str]:
    """The paths of every HTTP route of the API process, from its OpenAPI schema (its files, never
    written since the app is not started, would go in `folder`)."""
    from inferline.bootstrap import build_app, build_container
    from inferline.models.moving_average import MovingAverage
    from inferline.runtime.registry import ModelRegistry

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{folder / 'routes.db'}",
        vector_path=str(folder / "vectors"),
        models=[MovingAverage.name],
    )
    container = build_container(settings, registry=ModelRegistry([MovingAverage]))
    app = build_app(container)
    return frozenset(app.openapi()["paths"])


def load_compose(path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose file with `${NAME:-default}` filled from `env` (else the default), as
    compose does it: in the parsed strings, so `off` stays a string."""
    values = env or {}

    def fill(match: re.Match[str]) -> str:
        return values.get(match[1]) or match[2]

    def interpolate(node: Any) -> Any:
        if isinstance(node, str):
            filled = re.sub(r"\$\{(\w+):-([^}]*)\}", fill, node)
            assert "${" not in filled, f"a variable without a default: {node}"
            return filled
        if isinstance(node, dict):
            return {key: interpolate(value) for key, value in node.items()}
        if isinstance(node, list):
            return [interpolate(value) for value in node]
        return node

    loaded: dict[str, Any] = interpolate(yaml.safe_load(path.read_text()))
    return loaded
