"""Synchronous inference: validated inputs through the model's micro-batcher."""

from __future__ import annotations

import asyncio
from typing import Any

from inferline.application.inputs import validate_input
from inferline.core.validation import item_field
from inferline.domain.errors import InvalidInput
from inferline.ports.metrics import UseCaseMetrics
from inferline.ports.serving import Lane, ModelServing

MAX_INPUTS_PER_REQUEST = 1024


class InferenceService:
    """Runs inputs now, ahead of queued jobs for the same model."""

    def __init__(self, models: ModelServing, metrics: UseCaseMetrics) -> None:
        self.models = models
        self.metrics = metrics

    async def infer(
        self, model: str, inputs: list[Any], *, field: str = "inputs"
    ) -> list[dict[str, Any]]:
        """Outputs in input order; any invalid input rejects the whole request first."""
        served = self.models.get(model)
        if not inputs:
            raise InvalidInput(f"{field} must not be empty", details=[{"field": field}])
        if len(inputs) > MAX_INPUTS_PER_REQUEST:
            raise InvalidInput(
                f"at most {MAX_INPUTS_PER_REQUEST} inputs per request",
                details=[{"field": field, "message": f"{len(inputs)} given"}],
            )
        items = [
            validate_input(served.model_class, raw, field=item_field(field, i, len(inputs)))
            for i, raw in enumerate(inputs)
        ]
        counter = self.metrics.sync_requests
        try:
            outputs = await asyncio.gather(*(served.infer(item, Lane.SYNC) for item in items))
        except Exception:
            counter.labels(served.name, "error").inc(len(items))
            raise
        counter.labels(served.name, "ok").inc(len(items))
        return list(outputs)
