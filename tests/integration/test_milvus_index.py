"""The Milvus adapter on Milvus Lite (a real Milvus engine in a temporary `.db` file):
what survives the process, filters that metadata cannot inject into, names and
namespaces, and the platform's choice of it from INFERLINE_VECTOR_URL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from inferline.adapters.vectors.milvus import MilvusVectorIndex
from inferline.adapters.vectors.numpy_index import NumpyVectorIndex
from inferline.bootstrap import build_vector_index, logs_vectors
from inferline.core.settings import Settings
from inferline.domain.errors import InvalidInput, NotFound
from inferline.ports.vectors import CollectionSpec, VectorRecord

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def milvus(tmp_path: Path) -> AsyncIterator[MilvusVectorIndex]:
    index = MilvusVectorIndex(str(tmp_path / "v.db"))
    await index.start()
    yield index
    await index.close()


async def test_items_written_by_a_process_that_died_are_there_after_reopening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crash" / "v.db"
    writer = textwrap.dedent(
        f"""
        import asyncio, os
        from inferline.adapters.vectors.milvus import MilvusVectorIndex
        from inferline.ports.vectors import CollectionSpec, VectorRecord

        async def main():
            index = MilvusVectorIndex({str(path)!r})
            await index.start()
            await index.create_collection(CollectionSpec("t1~docs", 3, "l2"))
            await index.upsert("t1~docs", [
                VectorRecord("a", [1, 0, 0], {{"n": 1}}, "alpha"),
                VectorRecord("b", [0, 1, 0], {{"n": 2}}),
            ])
            await index.delete("t1~docs", ["b"])
            os._exit(0)  # no close(): the process dies with the writes only in the log

        asyncio.run(main())
        """
    )
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", writer], capture_output=True, timeout=90
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    reopened = MilvusVectorIndex(str(path))
    await reopened.start()
    try:
        assert await reopened.list_collections() == [CollectionSpec("t1~docs", 3, "l2")]
        assert await reopened.count("t1~docs") == 1
        hit = (await reopened.search("t1~docs", [1, 0, 0], 5))[0]
        assert (hit.id, hit.score, hit.metadata, hit.text) == ("a", 0.0, {"n": 1}, "alpha")
    finally:
        await reopened.close()


HOSTILE = [
    'x" or metadata["tenant"] != "',
    "back\\slash\\",
    'end\\"',
    "line\nbreak\ttab\rreturn",
    "x' or '1'=='1",
    "ünïcødé ✓",
]


async def test_metadata_values_and_keys_cannot_change_the_filter(
    milvus: MilvusVectorIndex,
) -> None:
    await milvus.create_collection(CollectionSpec("docs", 2, "cosine"))
    await milvus.upsert(
        "docs",
        [
            VectorRecord(f"v{n}", [1.0, n / 10], {"tenant": "t1", "v": v})
            for n, v in enumerate(HOSTILE)
        ]
        + [
            VectorRecord("other", [1.0, 0.0], {"tenant": "t2", "v": "plain"}),
            VectorRecord("key", [1.0, 0.0], {'odd"] or true or metadata["': 1, "tenant": "t3"}),
        ],
    )
    for n, value in enumerate(HOSTILE):
        hits = await milvus.search("docs", [1.0, 0.0], 10, where={"v": value})
        assert [h.id for h in hits] == [f"v{n}"], value
        assert hits[0].metadata["v"] == value
    odd = await milvus.search("docs", [1.0, 0.0], 10, where={'odd"] or true or metadata["': 1})
    assert [h.id for h in odd] == ["key"]
    assert await milvus.search("docs", [1.0, 0.0], 10, where={"v": 'plain" or "1" == "1'}) == []
    typed = await milvus.search("docs", [1.0, 0.0], 10, where={"tenant": "t1", "v": HOSTILE[0]})
    assert [h.id for h in typed] == ["v0"]
    with pytest.raises(InvalidInput, match="control character"):
        await milvus.search("docs", [1.0, 0.0], 1, where={"v": "bell\x07"})


async def test_numbers_booleans_and_null_filter_as_json_values(milvus: MilvusVectorIndex) -> None:
    await milvus.create_collection(CollectionSpec("typed", 2, "dot"))
    await milvus.upsert(
        "typed",
        [
            VectorRecord("int", [1.0, 0.0], {"n": 3, "ok": True}),
            VectorRecord("float", [1.0, 0.0], {"n": 2.5, "ok": False, "gone": None}),
        ],
    )
    assert [h.id for h in await milvus.search("typed", [1, 0], 5, where={"n": 3})] == ["int"]
    assert [h.id for h in await milvus.search("typed", [1, 0], 5, where={"n": 2.5})] == ["float"]
    assert [h.id for h in await milvus.search("typed", [1, 0], 5, where={"ok": False})] == ["float"]
    # Milvus keeps a JSON null as no value: null matches a null or a missing key
    nulls = await milvus.search("typed", [1, 0], 5, where={"gone": None})
    assert sorted(h.id for h in nulls) == ["float", "int"]


async def test_tenant_names_round_trip_and_namespaces_keep_users_apart(
    milvus: MilvusVectorIndex, tmp_path: Path
) -> None:
    names = ["acme~log-incidents", "acme.eu~a_b", "x", "under__score"]
    for name in names:
        assert await milvus.create_collection(CollectionSpec(name, 2, "cosine"))
    recsys = MilvusVectorIndex(str(tmp_path / "v.db"), namespace="recsys")
    await recsys.start()
    try:
        assert await recsys.list_collections() == []
        await recsys.create_collection(CollectionSpec("x", 4, "l2"))
        assert [s.name for s in await milvus.list_collections()] == sorted(names)
        assert await milvus.get_collection("x") == CollectionSpec("x", 2, "cosine")
        assert await recsys.get_collection("x") == CollectionSpec("x", 4, "l2")
    finally:
        await recsys.close()
    for bad in ("../escape", "", "a/b", "a" * 65):
        with pytest.raises(InvalidInput):
            await milvus.create_collection(CollectionSpec(bad, 2))
        assert await milvus.get_collection(bad) is None
    with pytest.raises(NotFound):
        await milvus.search("absent", [1.0, 0.0], 1)


async def test_ids_that_cannot_be_filtered_on_are_refused(milvus: MilvusVectorIndex) -> None:
    await milvus.create_collection(CollectionSpec("docs", 2))
    for bad_id in ("", "nul\x00", "x" * 2049):
        with pytest.raises(InvalidInput):
            await milvus.upsert("docs", [VectorRecord(bad_id, [1.0, 0.0])])
    with pytest.raises(InvalidInput, match="NaN"):
        await milvus.upsert("docs", [VectorRecord("nan", [float("nan"), 1.0])])
    await milvus.upsert("docs", [VectorRecord('quote"id\\', [1.0, 0.0])])
    assert await milvus.delete("docs", ['quote"id\\', 'quote"id\\', "absent"]) == 1
    assert await milvus.count("docs") == 0


async def test_concurrent_calls_from_the_event_loop_all_complete(
    milvus: MilvusVectorIndex,
) -> None:
    await milvus.create_collection(CollectionSpec("busy", 2, "l2"))

    async def write(n: int) -> None:
        await milvus.upsert("busy", [VectorRecord(f"i{n}", [float(n), 0.0], {"n": n})])

    await asyncio.gather(*(write(n) for n in range(20)))
    hits = await asyncio.gather(*(milvus.search("busy", [float(n), 0.0], 1) for n in range(20)))
    assert [h[0].id for h in hits] == [f"i{n}" for n in range(20)]
    assert await milvus.count("busy") == 20


def test_the_platform_picks_milvus_from_the_vector_url(tmp_path: Path) -> None:
    lite = build_vector_index(Settings(vector_url=f"milvus://{tmp_path}/v.db"))
    assert isinstance(lite, MilvusVectorIndex) and lite.uri == f"{tmp_path}/v.db"
    server = Settings(
        vector_url="milvus://milvus.internal:19530", vector_token=SecretStr("root:s3cret-t0ken")
    )
    remote = build_vector_index(server, namespace="recsys")
    assert isinstance(remote, MilvusVectorIndex)
    assert (remote.uri, remote.namespace, remote.index_type) == (
        "http://milvus.internal:19530",
        "recsys",
        "HNSW",
    )
    assert "s3cret" not in repr(remote)  # the token is never shown
    assert Settings(vector_url="milvus+https://m.example:443").milvus_uri() == (
        "https://m.example:443"
    )
    logs = logs_vectors(Settings(vector_url=f"milvus://{tmp_path}/v.db"))
    assert isinstance(logs, MilvusVectorIndex) and logs.namespace == "logs"
    embedded = logs_vectors(Settings(vector_path=str(tmp_path / "vectors")))
    assert isinstance(embedded, NumpyVectorIndex)
    assert embedded.root == tmp_path / "vectors" / "logs"
    for bad in ("milvus:///no-suffix", "milvus://", "qdrant://x"):
        with pytest.raises(ValueError, match=r"Milvus vector URL|vector URL scheme"):
            Settings(vector_url=bad)
