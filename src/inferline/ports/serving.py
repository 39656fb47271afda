"""The serving port: models loaded in this process, as the use cases see them.

The runtime (`runtime/serving.py`) puts each model behind its own micro-batcher; the
application only validates inputs and hands them to `ServedModel.infer` on a lane.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from pydantic import BaseModel

from inferline.ports.model import InferenceModel


class Lane(IntEnum):
    """Synchronous requests are served before queued jobs."""

    SYNC = 0
    JOB = 1


@dataclass(frozen=True, slots=True)
class BatchingConfig:
    """Size and time limits of one batcher."""

    max_batch_size: int
    max_wait_ms: float
    max_pending_sync: int = 1024
    instances: int = 1
    profile: str | None = None
    """The INFERLINE_PROFILE these limits come from (None: the model's own hints)."""

    @property
    def strategy(self) -> str:
        """`standard` (one item at a time) or `batched` (micro-batches, parallel batches)."""
        return "batched" if self.max_batch_size > 1 or self.instances > 1 else "standard"


class ServedModel(Protocol):
    """One model of this process: its class, its state, and the way to run an input."""

    @property
    def name(self) -> str: ...

    @property
    def model_class(self) -> type[InferenceModel]: ...

    @property
    def batching(self) -> BatchingConfig: ...

    @property
    def instance(self) -> InferenceModel | None:
        """The loaded model object (None until it is loaded)."""

    @property
    def loaded(self) -> bool: ...

    @property
    def load_error(self) -> str | None: ...

    @property
    def load_seconds(self) -> float | None: ...

    @property
    def pending(self) -> int:
        """Items waiting in the model's batcher (0 when it is not loaded)."""

    async def infer(
        self, item: BaseModel, lane: Lane, *, deadline: float | None = None
    ) -> dict[str, Any]:
        """Run one validated input; its output as a JSON-ready dict. With a `deadline`
        (UNIX time) it fails with `DeadlineExceeded` instead of running late."""
        ...


class ModelServing(Protocol):
    """The models served by this process."""

    def get(self, name: str) -> ServedModel:
        """A served model by name or alias (NotFound otherwise)."""
        ...

    def served(self) -> list[ServedModel]:
        """Every model of this process, loaded or not, by name."""
        ...


class ModelCatalog(Protocol):
    """Which model classes exist, by name and alias (whether or not this process loads them)."""

    def canonical(self, name: str) -> str:
        """The model's own name for a name or alias; NotFound lists what exists."""
        ...

    def get(self, name: str) -> type[InferenceModel]:
        """The class for a name or alias."""
        ...

    def names(self) -> list[str]:
        """Every model name, sorted."""
        ...
