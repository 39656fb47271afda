"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_METADATA_KEYS = 64


class Strict(BaseModel):
    """Request bodies reject unknown fields and NaN/Infinity."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class JobRequest(Strict):
    """`POST /api/v1/jobs`."""

    model: str = Field(min_length=1, max_length=128, description="Model name or alias.")
    input: dict[str, Any] = Field(description="The model's input, per its input schema.")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher runs first.")
    deadline: datetime | None = Field(
        default=None, description="ISO-8601; the job expires if it has not run by then."
    )
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_METADATA_KEYS:
            raise ValueError(f"at most {MAX_METADATA_KEYS} metadata keys")
        return value

    def deadline_seconds(self) -> float | None:
        if self.deadline is None:
            return None
        moment = self.deadline if self.deadline.tzinfo else self.deadline.replace(tzinfo=UTC)
        return moment.timestamp()


class JobBatchRequest(Strict):
    """`POST /api/v1/jobs/batch`: many jobs in one request and one transaction."""

    jobs: list[JobRequest] = Field(min_length=1, max_length=1000)


class InferRequest(Strict):
    """`POST /api/v1/models/{name}/infer`: one `input` or a list of `inputs`."""

    input: dict[str, Any] | None = None
    inputs: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=1024)


class S2SubmitRequest(Strict):
    """Source S2's `POST /api/v1/inference/submit`."""

    model_name: str = Field(min_length=1, max_length=128)
    data: list[float] = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(
        default_factory=dict, description='Extra model inputs, e.g. {"window": 5}.'
    )
