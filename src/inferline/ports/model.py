"""The model port: what every model, built-in or third-party, provides.

A model is a class with a name, a version, Pydantic input and output schemas,
batching hints, ``load()`` and ``predict_batch()``. ``predict_batch`` is plain,
blocking Python: the runtime calls it in an executor thread, never on the event
loop. Weights come only from installed packages or local files.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class ModelInput(BaseModel):
    """Base of model input schemas: strict about NaN/Infinity and unknown fields."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")


class ModelOutput(BaseModel):
    """Base of model output schemas."""

    model_config = ConfigDict(allow_inf_nan=True)


class InferenceModel:
    """Subclass this to add a model.

    Class attributes describe the model; ``load`` reads weights once;
    ``predict_batch`` maps a list of validated inputs to a list of outputs of the
    same length and order. Raise an exception to fail the batch: the runtime then
    retries the items one by one so that only the bad item fails.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    input_schema: ClassVar[type[ModelInput]]
    output_schema: ClassVar[type[ModelOutput]]
    max_batch_size: ClassVar[int] = 32
    max_wait_ms: ClassVar[float] = 5.0
    instances: ClassVar[int] = 1
    """Batches run at once, each in its own thread; >1 only if predict_batch is thread-safe."""
    batching_profiles: ClassVar[dict[str, dict[str, float]]] = {}
    """Batching hints per profile (INFERLINE_PROFILE): `standard` and `batched` keys, each
    with `max_batch_size`, `max_wait_ms`, `instances` (0: one per core). Without its own,
    a model runs one item at a time under `standard` and with its hints above under
    `batched`."""

    @classmethod
    def missing_requirements(cls) -> str | None:
        """Why the model cannot run in this installation (an optional package is not
        installed), or None. A model found by entry point is skipped, with this reason
        in the log, instead of failing to load."""
        return None

    def load(self) -> None:
        """Load weights; called once, off the event loop, before the first batch."""

    def warmup(self) -> None:
        """Run a tiny batch so the first real request is not slow (optional)."""

    def predict_batch(self, inputs: list[Any]) -> list[Any]:
        """Compute one output per input, in order."""
        raise NotImplementedError
