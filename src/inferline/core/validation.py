"""Turning validation errors into the `details` of an `invalid_input` error."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SINGULAR_FIELDS = frozenset({"input", "text"})  # request fields that hold one item, not a list


def field_problems(
    errors: Iterable[Mapping[str, Any]],
    *,
    prefix: tuple[str, ...] = (),
    skip: frozenset[str] = frozenset(),
) -> list[dict[str, str]]:
    """Pydantic errors as `{"field", "message", "type"}`, the field a dotted path
    behind `prefix`, leaving out location parts in `skip` (e.g. FastAPI's "body")."""
    problems = []
    for error in errors:
        path = [*prefix, *(str(p) for p in error.get("loc", ()) if p not in skip)]
        problems.append(
            {
                "field": ".".join(path) or "body",
                "message": str(error.get("msg", "invalid")),
                "type": str(error.get("type", "value_error")),
            }
        )
    return problems


def problems_summary(problems: Iterable[Mapping[str, str]]) -> str:
    """`field: message; field: message` for an error's human message."""
    return "; ".join(f"{p['field']}: {p['message']}" for p in problems)


def item_field(field: str, index: int, count: int) -> str:
    """The name of item `index` of a request's `count` items: the field itself for a
    lone item in a singular field (`input`, `text`), else `field.index`."""
    return field if count == 1 and field in SINGULAR_FIELDS else f"{field}.{index}"
