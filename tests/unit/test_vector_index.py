"""The embedded vector index: exact search math, metadata filters, crash-safe persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inferline.adapters.vectors.exact import ExactCollection
from inferline.adapters.vectors.numpy_index import NumpyVectorIndex
from inferline.adapters.vectors.storage import LOG_FILE, SNAPSHOT_FILE
from inferline.domain.errors import Conflict, InvalidInput, NotFound
from inferline.ports.vectors import CollectionSpec, VectorRecord


def _collection(metric: str) -> ExactCollection:
    collection = ExactCollection(CollectionSpec("c", 2, metric), capacity=1)  # type: ignore[arg-type]
    collection.upsert(
        [
            VectorRecord("east", [1.0, 0.0], {"kind": "axis"}),
            VectorRecord("north", [0.0, 2.0], {"kind": "axis"}),
            VectorRecord("diagonal", [3.0, 3.0], {"kind": "mixed"}),
        ]
    )
    return collection


def test_cosine_ranks_by_angle_and_ignores_length() -> None:
    hits = _collection("cosine").search([1.0, 0.1], k=3)
    assert [h.id for h in hits] == ["east", "diagonal", "north"]
    assert hits[1].score == pytest.approx((1.0 + 0.1) / np.sqrt(2) / np.linalg.norm([1, 0.1]))


def test_dot_product_rewards_length() -> None:
    hits = _collection("dot").search([1.0, 0.1], k=2)
    assert [h.id for h in hits] == ["diagonal", "east"]
    assert hits[0].score == pytest.approx(3.3)


def test_l2_returns_the_smallest_distances_first() -> None:
    hits = _collection("l2").search([0.0, 1.5], k=3)
    assert [h.id for h in hits] == ["north", "east", "diagonal"]
    assert hits[0].score == pytest.approx(0.5)


def test_filter_keeps_only_items_whose_metadata_matches_every_pair() -> None:
    collection = _collection("cosine")
    assert [h.id for h in collection.search([1, 1], k=5, where={"kind": "axis"})] == [
        "east",
        "north",
    ]
    assert collection.search([1, 1], k=5, where={"kind": "axis", "missing": None}) == []


def test_upsert_replaces_by_id_and_delete_keeps_the_rest_findable() -> None:
    collection = _collection("cosine")
    collection.upsert([VectorRecord("east", [0.0, -1.0], {"kind": "moved"})])
    assert len(collection) == 3
    assert collection.search([0.0, -1.0], k=1)[0].metadata == {"kind": "moved"}
    assert collection.delete(["east", "nope"]) == 1
    assert sorted(h.id for h in collection.search([1, 1], k=10)) == ["diagonal", "north"]


def test_wrong_dimension_and_zero_vectors_are_refused() -> None:
    collection = _collection("cosine")
    with pytest.raises(ValueError, match="collection needs 2"):
        collection.upsert([VectorRecord("x", [1.0, 2.0, 3.0])])
    with pytest.raises(ValueError, match="zero vector"):
        collection.upsert([VectorRecord("x", [0.0, 0.0])])


async def _index(root: Path, **kwargs: int) -> NumpyVectorIndex:
    index = NumpyVectorIndex(root, **kwargs)
    await index.start()
    return index


async def test_items_survive_a_restart(tmp_path: Path) -> None:
    index = await _index(tmp_path)
    assert await index.create_collection(CollectionSpec("docs", 3, "cosine"))
    await index.upsert(
        "docs",
        [VectorRecord("a", [1, 0, 0], {"n": 1}, "alpha"), VectorRecord("b", [0, 1, 0], {"n": 2})],
    )
    await index.delete("docs", ["b"])
    # no close(): the process dies with everything only in the append log
    reopened = await _index(tmp_path)
    assert await reopened.count("docs") == 1
    hit = (await reopened.search("docs", [1, 0, 0], k=5))[0]
    assert (hit.id, hit.metadata, hit.text) == ("a", {"n": 1}, "alpha")


async def test_a_torn_last_log_line_is_ignored(tmp_path: Path) -> None:
    index = await _index(tmp_path)
    await index.create_collection(CollectionSpec("docs", 2))
    await index.upsert("docs", [VectorRecord("kept", [1, 0])])
    with (tmp_path / "docs" / LOG_FILE).open("ab") as log:
        log.write(b'{"seq": 2, "op": "upsert", "data": [{"id": "torn", "v"')  # crash mid-write
    reopened = await _index(tmp_path)
    assert [h.id for h in await reopened.search("docs", [1, 0], k=5)] == ["kept"]
    await reopened.upsert("docs", [VectorRecord("after", [0, 1])])  # the log is usable again
    assert await (await _index(tmp_path)).count("docs") == 2


async def test_compaction_writes_a_snapshot_and_replay_skips_what_it_holds(tmp_path: Path) -> None:
    index = await _index(tmp_path, compact_log_bytes=1)  # compact after every write
    await index.create_collection(CollectionSpec("docs", 2, "dot"))
    await index.upsert("docs", [VectorRecord("a", [1, 0]), VectorRecord("b", [0, 1])])
    await index.upsert("docs", [VectorRecord("a", [2, 0])])
    folder = tmp_path / "docs"
    assert (folder / SNAPSHOT_FILE).exists() and (folder / LOG_FILE).stat().st_size == 0
    reopened = await _index(tmp_path)
    hits = await reopened.search("docs", [1, 0], k=2)
    assert [(h.id, h.score) for h in hits] == [("a", 2.0), ("b", 0.0)]


async def test_create_is_idempotent_but_a_different_spec_conflicts(tmp_path: Path) -> None:
    index = await _index(tmp_path)
    assert await index.create_collection(CollectionSpec("docs", 2)) is True
    assert await index.create_collection(CollectionSpec("docs", 2)) is False
    with pytest.raises(Conflict, match="dimension 2"):
        await index.create_collection(CollectionSpec("docs", 3))


async def test_bad_names_unknown_collections_and_dropping(tmp_path: Path) -> None:
    index = await _index(tmp_path)
    for name in ("../escape", "", ".hidden", "a/b"):
        with pytest.raises(InvalidInput):
            await index.create_collection(CollectionSpec(name, 2))
    with pytest.raises(NotFound):
        await index.search("nope", [1, 0], k=1)
    await index.create_collection(CollectionSpec("gone", 2))
    assert await index.drop_collection("gone") is True
    assert await index.drop_collection("gone") is False
    assert await (await _index(tmp_path)).list_collections() == []


async def test_an_upsert_with_one_bad_vector_changes_nothing(tmp_path: Path) -> None:
    index = await _index(tmp_path)
    await index.create_collection(CollectionSpec("docs", 2))
    with pytest.raises(InvalidInput):
        await index.upsert("docs", [VectorRecord("ok", [1, 0]), VectorRecord("bad", [1, 0, 0])])
    assert await index.count("docs") == 0
    assert await (await _index(tmp_path)).count("docs") == 0
