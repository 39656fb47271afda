"""Incident memory with the real MiniLM, on the embedded index and on Milvus Lite: a
resolved incident is found for a new one with the same template and other parameters,
not for an unrelated one, not for another tenant, and never for itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inferline.adapters.vectors.milvus import MilvusVectorIndex
from inferline.adapters.vectors.numpy_index import NumpyVectorIndex
from inferline.application.resilience import NO_RETRY, Resilience
from inferline.apps.logs.memory import IncidentDigest, IncidentMemory, digest_text
from inferline.domain.errors import InvalidInput
from inferline.ports.vectors import VectorIndex
from tests.support.recsys import MiniLMEmbedder

pytestmark = pytest.mark.timeout(120)

AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(params=["numpy", "milvus"])
async def memory(
    request: pytest.FixtureRequest, tmp_path: Path, minilm: MiniLMEmbedder
) -> AsyncIterator[IncidentMemory]:
    vectors: VectorIndex
    if request.param == "numpy":
        vectors = NumpyVectorIndex(tmp_path / "vectors")
    else:
        vectors = MilvusVectorIndex(str(tmp_path / "vectors.db"))
    await vectors.start()
    found = IncidentMemory(
        vectors, minilm, embedding_policy=Resilience("test", retry=NO_RETRY), clock=lambda: AT
    )
    await found.start()
    yield found
    await vectors.close()


def timeout_incident(incident_id: str, host: str, ms: int, tenant: str = "acme") -> IncidentDigest:
    return IncidentDigest(
        id=incident_id,
        tenant=tenant,
        service="payments",
        level="ERROR",
        template="Connection to database <*> timed out after <*> ms",
        samples=[f"Connection to database {host} timed out after {ms} ms"],
        parameters=[[host, str(ms)]],
        count=42,
        first_seen=AT,
        last_seen=AT,
    )


UNRELATED = IncidentDigest(
    id="inc-avatar",
    tenant="acme",
    service="frontend",
    level="ERROR",
    template="User <*> uploaded an avatar in unsupported format <*>",
    samples=["User 8812 uploaded an avatar in unsupported format image/heic"],
    count=3,
)


async def test_a_resolved_incident_is_found_for_the_same_failure_with_other_values(
    memory: IncidentMemory,
) -> None:
    old = timeout_incident("inc-1", "db-7.internal", 3000)
    await memory.remember(old, "Raised the connection pool from 10 to 40 and restarted.")
    new = timeout_incident("inc-2", "db-3.internal", 5000)
    found = await memory.similar(new)
    assert [p.id for p in found] == ["inc-1"]
    past = found[0]
    assert past.score > 0.9
    assert past.resolution == "Raised the connection pool from 10 to 40 and restarted."
    assert (past.service, past.level, past.count) == ("payments", "ERROR", 42)
    assert past.resolved_at == AT.isoformat()
    assert past.template == old.template
    assert await memory.similar(UNRELATED) == []
    # another tenant's incidents are not its memory; an incident is not like itself
    assert await memory.similar(timeout_incident("inc-9", "db-3", 5000, tenant="other")) == []
    assert await memory.similar(old) == []


async def test_remembering_again_replaces_and_forgetting_removes(memory: IncidentMemory) -> None:
    old = timeout_incident("inc-1", "db-7", 3000)
    await memory.remember(old, "first fix")
    await memory.remember(old, "the real fix")
    await memory.remember(UNRELATED, "convert HEIC on upload")
    assert await memory.vectors.count(memory.collection) == 2
    new = timeout_incident("inc-2", "db-1", 100)
    found = await memory.similar(new, k=3, min_score=-1.0)
    assert [p.id for p in found] == ["inc-1", "inc-avatar"]  # best first, every one shown
    assert found[0].resolution == "the real fix"
    assert found[1].score < 0.6 < found[0].score
    assert await memory.similar(new, k=1, min_score=-1.0) == found[:1]
    assert await memory.forget("acme", "inc-1") is True
    assert await memory.forget("acme", "inc-1") is False
    assert await memory.similar(new) == []
    with pytest.raises(InvalidInput, match="resolution"):
        await memory.remember(new, "   ")


def test_the_embedded_text_names_service_level_template_and_one_sample() -> None:
    text = digest_text(timeout_incident("inc-1", "db-7", 3000))
    assert text == (
        "payments ERROR: Connection to database <*> timed out after <*> ms\n"
        "Example: Connection to database db-7 timed out after 3000 ms"
    )
    long = IncidentDigest("i", "t", "s", "ERROR", "x" * 5000, samples=["y\n" * 5000])
    assert len(digest_text(long)) < 800
