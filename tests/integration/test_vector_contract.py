"""The vector port's contract on every adapter: the embedded NumPy index, pgvector (a
private PostgreSQL 18 with the extension) and Milvus (Milvus Lite in a temporary file):
collections, replace by id, filtered nearest neighbours, deletes, and scores under each
metric that agree with exact search."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from inferline.adapters.vectors.milvus import MilvusVectorIndex
from inferline.adapters.vectors.numpy_index import NumpyVectorIndex
from inferline.adapters.vectors.pgvector import PgVectorIndex
from inferline.domain.errors import Conflict, InvalidInput, NotFound
from inferline.ports.vectors import CollectionSpec, Metric, VectorIndex, VectorRecord


@pytest.fixture(params=["numpy", "pgvector", "milvus"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorIndex]:
    if request.param == "numpy":
        found: VectorIndex = NumpyVectorIndex(tmp_path / "vectors")
    elif request.param == "milvus":
        found = MilvusVectorIndex(str(tmp_path / "milvus" / "vectors.db"))
    else:
        found = PgVectorIndex(
            await request.getfixturevalue("pgvector").create_database(
                f"vec_{tmp_path.name[-20:].lower().replace('-', '_')}"
            )
        )
    await found.start()
    yield found
    await found.close()


def unit(*values: float) -> list[float]:
    v = np.zeros(8, dtype=np.float32)
    v[: len(values)] = values
    return list(v / np.linalg.norm(v))


async def test_the_vector_contract(index: VectorIndex) -> None:
    spec = CollectionSpec("items", 8, "cosine")
    assert await index.create_collection(spec) is True
    assert await index.create_collection(spec) is False
    with pytest.raises(Conflict):
        await index.create_collection(CollectionSpec("items", 4, "cosine"))
    await index.upsert(
        "items",
        [
            VectorRecord("a", unit(1, 0), {"tenant": "t1", "category": "x"}, "A"),
            VectorRecord("b", unit(1, 0.2), {"tenant": "t1", "category": "y"}),
            VectorRecord("c", unit(0, 1), {"tenant": "t2", "category": "x"}),
        ],
    )
    await index.upsert(
        "items", [VectorRecord("b", unit(1, 0.1), {"tenant": "t1", "category": "y"})]
    )
    assert await index.count("items") == 3
    hits = await index.search("items", unit(1, 0), 2)
    assert [h.id for h in hits] == ["a", "b"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].text == "A"
    assert hits[0].metadata == {"tenant": "t1", "category": "x"}
    assert [h.id for h in await index.search("items", unit(1, 0), 5, where={"tenant": "t2"})] == [
        "c"
    ]
    filtered = await index.search("items", unit(1, 0), 5, where={"tenant": "t1", "category": "y"})
    assert [h.id for h in filtered] == ["b"]
    with pytest.raises(InvalidInput):
        await index.search("items", [1.0, 2.0], 1)
    assert await index.delete("items", ["a", "zz"]) == 1
    assert await index.count("items") == 2
    with pytest.raises(NotFound):
        await index.count("nothing")
    assert [s.name for s in await index.list_collections()] == ["items"]
    assert await index.drop_collection("items") is True
    assert await index.drop_collection("items") is False
    assert await index.get_collection("items") is None


POINTS = {"east": [1.0, 0.0], "north": [0.0, 2.0], "diagonal": [3.0, 3.0], "far": [-4.0, 1.0]}


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
async def test_scores_follow_the_metric_as_exact_search_does(
    index: VectorIndex, metric: Metric, tmp_path: Path
) -> None:
    exact = NumpyVectorIndex(tmp_path / "exact")
    for target in (index, exact):
        await target.create_collection(CollectionSpec(f"m-{metric}", 2, metric))
        await target.upsert(
            f"m-{metric}", [VectorRecord(k, v, {"n": len(k)}) for k, v in POINTS.items()]
        )
    for query in ([1.0, 0.1], [0.0, 1.5], [-1.0, 1.0]):
        got = await index.search(f"m-{metric}", query, 3)
        expected = await exact.search(f"m-{metric}", query, 3)
        assert [h.id for h in got] == [h.id for h in expected]
        assert [h.score for h in got] == pytest.approx([h.score for h in expected], abs=1e-4)


async def test_an_upsert_with_one_bad_record_changes_nothing(index: VectorIndex) -> None:
    await index.create_collection(CollectionSpec("docs", 2, "cosine"))
    await index.upsert("docs", [VectorRecord("kept", [1.0, 0.0])])
    for bad in ([1.0, 0.0, 0.0], [0.0, 0.0]):  # wrong dimension; no direction for cosine
        with pytest.raises(InvalidInput):
            await index.upsert("docs", [VectorRecord("kept", [0.0, 1.0]), VectorRecord("bad", bad)])
    assert await index.count("docs") == 1
    assert (await index.search("docs", [1.0, 0.0], 1))[0].score == pytest.approx(1.0, abs=1e-5)
