"""Milvus names and filter expressions: reversible names, literals that cannot be escaped."""

from __future__ import annotations

import pytest

from inferline.adapters.vectors.milvus_expressions import (
    collection_name,
    ids_expression,
    milvus_name,
    string_literal,
    where_expression,
)
from inferline.domain.errors import InvalidInput
from inferline.ports.vectors import MetadataValue


@pytest.mark.parametrize(
    "name", ["docs", "acme~log-incidents", "a.b_c-d~e", "__", "x_d", "A9", "t~_p"]
)
def test_names_round_trip_and_use_only_what_milvus_allows(name: str) -> None:
    encoded = milvus_name("inferline", name)
    assert encoded.replace("_", "").isalnum()
    assert collection_name("inferline", encoded) == name
    assert collection_name("recsys", encoded) is None


def test_names_of_others_and_too_long_names() -> None:
    assert collection_name("inferline", "inferline_bad_zescape") is None
    assert collection_name("inferline", "inferlinex_docs") is None
    assert collection_name("inferline", "inferline_") is None
    with pytest.raises(InvalidInput, match="too long for Milvus"):
        milvus_name("inferline", "~" * 128)


def test_literals_escape_quotes_backslashes_and_line_breaks() -> None:
    assert string_literal('a"b\\c') == '"a\\"b\\\\c"'
    assert string_literal("l1\nl2\r\t") == '"l1\\nl2\\r\\t"'
    assert string_literal("x' or '1'=='1") == "\"x' or '1'=='1\""
    with pytest.raises(InvalidInput, match="U\\+0000"):
        string_literal("nul\x00")


def test_where_pairs_become_one_conjunction_of_typed_comparisons() -> None:
    where: dict[str, MetadataValue] = {
        "tenant": 't"1',
        "n": 3,
        "x": 2.5,
        "ok": True,
        "gone": None,
    }
    assert where_expression(where) == (
        'metadata["tenant"] == "t\\"1" and metadata["n"] == 3 and metadata["x"] == 2.5 '
        'and metadata["ok"] == true and metadata["gone"] is null'
    )
    assert where_expression({}) == "" and where_expression(None) == ""
    with pytest.raises(InvalidInput, match="finite"):
        where_expression({"x": float("inf")})
    with pytest.raises(InvalidInput, match="list"):
        where_expression({"x": [1]})  # type: ignore[dict-item]
    assert ids_expression(["a", 'b"']) == 'id in ["a", "b\\""]'
