"""What Milvus needs spelled its own way: collection names and filter expressions.

Milvus names allow only letters, digits and `_`, while ours also have `-`, `.` and the
tenant separator `~`; `milvus_name` maps them reversibly under a namespace, so a
collection's own name comes back from `list_collections` without a registry.

A `where` becomes a boolean expression over the JSON `metadata` field. Values are
written as literals (Milvus Lite parses no filter templates), so every string goes
through `string_literal`, which escapes the two characters that could end the literal
(`"` and `\\`) and the control characters the parser knows; any other control character
is refused. No metadata value or key can add a clause to the expression.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from inferline.domain.errors import InvalidInput
from inferline.ports.vectors import MetadataValue

NAMESPACE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,31}$")
MAX_MILVUS_NAME = 255
_ESCAPES = {"-": "_d", ".": "_p", "~": "_t", "_": "__"}
_UNESCAPES = {code[1]: char for char, code in _ESCAPES.items()}
_LITERAL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def milvus_name(namespace: str, name: str) -> str:
    """`<namespace>_<name>` with `-`, `.`, `~` and `_` written as `_d`, `_p`, `_t`, `__`."""
    encoded = "".join(_ESCAPES.get(char, char) for char in name)
    full = f"{namespace}_{encoded}"
    if len(full) > MAX_MILVUS_NAME:
        raise InvalidInput(
            f"collection name {name!r} is too long for Milvus once encoded "
            f"({len(full)} > {MAX_MILVUS_NAME} characters)",
            details=[{"field": "name", "message": "too long for Milvus"}],
        )
    return full


def collection_name(namespace: str, milvus: str) -> str | None:
    """The collection name behind a Milvus name, or None when it is not in `namespace`."""
    prefix = f"{namespace}_"
    if not milvus.startswith(prefix):
        return None
    encoded = milvus[len(prefix) :]
    out: list[str] = []
    position = 0
    while position < len(encoded):
        char = encoded[position]
        if char != "_":
            out.append(char)
            position += 1
            continue
        code = encoded[position + 1 : position + 2]
        if code not in _UNESCAPES:
            return None  # not written by `milvus_name`
        out.append(_UNESCAPES[code])
        position += 2
    return "".join(out) or None


def string_literal(value: str) -> str:
    """A double-quoted Milvus string literal that denotes exactly `value`."""
    out: list[str] = []
    for char in value:
        escaped = _LITERAL_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            raise InvalidInput(
                f"a metadata filter cannot match the control character U+{ord(char):04X}",
                details=[{"field": "where", "message": "control character in a filter"}],
            )
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def value_literal(value: MetadataValue) -> str:
    """A JSON scalar as a Milvus literal (booleans before numbers: `True` is an int)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(
                "a metadata filter value must be a finite number",
                details=[{"field": "where", "message": "not a finite number"}],
            )
        return repr(value)
    if isinstance(value, str):
        return string_literal(value)
    raise InvalidInput(
        f"a metadata filter value must be a string, number, boolean or null, "
        f"not {type(value).__name__}",
        details=[{"field": "where", "message": "unsupported value type"}],
    )


def where_expression(where: Mapping[str, MetadataValue] | None, field: str = "metadata") -> str:
    """`metadata["k"] == v and …` for every pair; `null` matches a null or missing key."""
    if not where:
        return ""
    clauses = []
    for key, value in where.items():
        path = f"{field}[{string_literal(key)}]"
        clauses.append(f"{path} is null" if value is None else f"{path} == {value_literal(value)}")
    return " and ".join(clauses)


def ids_expression(ids: list[str], field: str = "id") -> str:
    """`id in ["a", "b"]` with every id escaped."""
    return f"{field} in [" + ", ".join(string_literal(i) for i in ids) + "]"
