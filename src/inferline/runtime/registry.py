"""Which models exist: built-ins and third-party models, found by entry point."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points

from inferline.domain.errors import NotFound
from inferline.ports.model import InferenceModel

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "inferline.models"


class ModelRegistry:
    """Model classes by name and alias."""

    def __init__(self, classes: Iterable[type[InferenceModel]] = ()) -> None:
        self._by_name: dict[str, type[InferenceModel]] = {}
        self._aliases: dict[str, str] = {}
        for cls in classes:
            self.register(cls)

    @classmethod
    def from_entry_points(cls, group: str = ENTRY_POINT_GROUP) -> ModelRegistry:
        """Every model class advertised under the entry point group."""
        registry = cls()
        for point in entry_points(group=group):
            try:
                model_class = point.load()
                missing = model_class.missing_requirements()
                if missing:
                    log.warning("model %s is not available: %s", model_class.name, missing)
                    continue
                registry.register(model_class)
            except Exception:
                log.exception("could not load model entry point %s", point.value)
        return registry

    def register_import_paths(self, paths: list[str]) -> None:
        """Register classes named `package.module:ClassName` (settings' model_plugins)."""
        for path in paths:
            module_name, _, class_name = path.partition(":")
            if not module_name or not class_name:
                raise ValueError(f"model plugin {path!r} must look like 'package.module:ClassName'")
            try:
                model_class = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError) as exc:
                raise ValueError(f"cannot import model plugin {path!r}: {exc}") from exc
            self.register(model_class)

    def register(self, model_class: type[InferenceModel]) -> None:
        """Add a model class; its name and aliases must be unique."""
        name = model_class.name
        if name in self._by_name and self._by_name[name] is not model_class:
            raise ValueError(f"two models are named {name!r}")
        self._by_name[name] = model_class
        for alias in model_class.aliases:
            self._aliases[alias] = name

    def canonical(self, name: str) -> str:
        """The model's own name for a name or alias; NotFound lists what exists."""
        if name in self._by_name:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise NotFound(
            f"model {name!r} not found",
            details={"model": name, "available": sorted(self._by_name)},
        )

    def get(self, name: str) -> type[InferenceModel]:
        """The class for a name or alias."""
        return self._by_name[self.canonical(name)]

    def names(self) -> list[str]:
        """Registered model names, sorted."""
        return sorted(self._by_name)

    def select(self, wanted: list[str]) -> ModelRegistry:
        """A registry with only the wanted models (all when `wanted` is empty)."""
        if not wanted:
            return self
        return ModelRegistry(self.get(name) for name in wanted)
