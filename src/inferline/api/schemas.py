"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

MAX_METADATA_KEYS = 64

# A job id in a path. Routes match `{job_id:uuid}` only, so that `/api/v1/jobs/batch`
# is never read as the id "batch" (nor is its Allow header given GET and DELETE).
JobId = Annotated[UUID, Path(description="The job's id, as the submit answered it.")]


class ErrorDetail(BaseModel):
    """What went wrong: a stable `code`, a readable `message`, and `details` (often the
    fields at fault)."""

    code: str = Field(description="invalid_input, not_found, conflict, overloaded, ...")
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error response: `{"error": {"code", "message", "details"}}`."""

    error: ErrorDetail


class Strict(BaseModel):
    """Request bodies reject unknown fields and NaN/Infinity."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def exactly_one_of(*groups: dict[str, str]) -> dict[str, Any]:
    """JSON Schema for a rule a model validator enforces: exactly one group of fields is
    given (each field of it present with its JSON type, the other groups' fields absent
    or null). So the OpenAPI schema states what the server accepts."""
    every_field = {name for group in groups for name in group}
    choices = []
    for group in groups:
        properties = {name: {"type": group.get(name, "null")} for name in sorted(every_field)}
        choices.append({"required": sorted(group), "properties": properties})
    return {"oneOf": choices}


SERIES_EXAMPLE: JsonDict = {"series": [1.0, 3.0, 5.0, 3.0, 1.0, 3.0, 5.0, 3.0], "window": 2}


class JobRequest(Strict):
    """`POST /api/v1/jobs`."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"model": "moving-average", "input": SERIES_EXAMPLE}]}
    )

    model: str = Field(min_length=1, max_length=128, description="Model name or alias.")
    input: dict[str, Any] = Field(description="The model's input, per its input schema.")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher runs first.")
    deadline: datetime | None = Field(
        default=None, description="ISO-8601; the job expires if it has not run by then."
    )
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=MAX_METADATA_KEYS)

    def deadline_seconds(self) -> float | None:
        if self.deadline is None:
            return None
        moment = self.deadline if self.deadline.tzinfo else self.deadline.replace(tzinfo=UTC)
        return moment.timestamp()


class JobBatchRequest(Strict):
    """`POST /api/v1/jobs/batch`: many jobs in one request and one transaction."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"jobs": [{"model": "moving-average", "input": SERIES_EXAMPLE}] * 2}]
        }
    )

    jobs: list[JobRequest] = Field(min_length=1, max_length=1000)


class InferRequest(Strict):
    """`POST /api/v1/models/{name}/infer`: one `input` or a list of `inputs`."""

    model_config = ConfigDict(
        json_schema_extra={
            **exactly_one_of({"input": "object"}, {"inputs": "array"}),
            "examples": [{"input": SERIES_EXAMPLE}, {"inputs": [SERIES_EXAMPLE] * 2}],
        }
    )

    input: dict[str, Any] | None = None
    inputs: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _one_of_input_or_inputs(self) -> InferRequest:
        if (self.input is None) == (self.inputs is None):
            raise ValueError("give exactly one of input or inputs")
        return self
