"""Validating a model input at the edge of every use case that runs a model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from inferline.core.validation import field_problems, problems_summary
from inferline.domain.errors import InvalidInput
from inferline.ports.model import InferenceModel


def validate_input(model_class: type[InferenceModel], raw: Any, *, field: str) -> BaseModel:
    """Validate one input against the model's schema; errors name the field path."""
    try:
        return model_class.input_schema.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems = field_problems(errors, prefix=(field,))
        raise InvalidInput(
            f"invalid input for model {model_class.name}: {problems_summary(problems)}",
            details=problems,
        ) from None
