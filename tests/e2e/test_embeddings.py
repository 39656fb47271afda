"""MiniLM embeddings over HTTP: source S3's routes, the OpenAI API, jobs, parity, limits.

One real server (with only MiniLM) is shared by the module: loading the model
takes seconds. Parity is checked against sentence-transformers in this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from inferline.testing.server import ServerProcess, http_server, sqlite_url, wait_for_job

TEXTS = [
    "The cat sits on the mat.",
    "A quick brown fox jumps over the lazy dog.",
    "Inferline batches requests for the model.",
    "Vector search finds similar sentences.",
    "Completely unrelated: the stock market fell today.",
]
LONG_TEXT = " ".join(["tokenisation"] * 400)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("embeddings")
    process = http_server(
        "serve", sqlite_url(folder / "inferline.db"), folder / "server.log", models="minilm"
    )
    process.start().wait_ready(timeout=110)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def reference() -> Any:
    """sentence-transformers itself, from the same packaged model folder."""
    from sentence_transformers import SentenceTransformer

    from inferline.models.minilm import model_dir

    return SentenceTransformer(str(model_dir()), device="cpu")


def _cosines(a: Any, b: Any) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    cosines: np.ndarray = (a * b).sum(axis=1) / (
        np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    )
    return cosines


def test_vectors_match_sentence_transformers(client: httpx.Client, reference: Any) -> None:
    texts = [*TEXTS, LONG_TEXT]
    expected = reference.encode(texts, batch_size=32)
    batch = client.post("/batch-embed", json={"texts": texts}).json()["embeddings"]
    single = [client.post("/embed", json={"text": t}).json()["embedding"] for t in texts]
    assert _cosines(batch, expected).min() >= 0.9999
    assert _cosines(single, expected).min() >= 0.9999
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_embed_answers_and_caches(client: httpx.Client) -> None:
    text = "A sentence only this test embeds."
    first = client.post("/embed", json={"text": text})
    assert first.status_code == 200
    body = first.json()
    assert (body["dim"], len(body["embedding"]), body["model"]) == (384, 384, "minilm")
    assert (body["cached"], body["truncated"]) == (False, False)
    second = client.post("/embed", json={"text": text}).json()
    assert second["cached"] is True
    assert second["embedding"] == body["embedding"]


def test_batch_embed_keeps_order_and_flags_cached_texts(client: httpx.Client) -> None:
    client.post("/embed", json={"text": "already cached for the batch"})
    texts = ["batch one", "already cached for the batch", "batch three"]
    body = client.post("/batch-embed", json={"texts": texts}).json()
    assert body["cached"] == [False, True, False]
    assert len(body["embeddings"]) == 3 and body["dim"] == 384
    alone = client.post("/embed", json={"text": "batch three"}).json()["embedding"]
    assert _cosines([alone], [body["embeddings"][2]])[0] >= 0.99999


def test_long_texts_are_truncated_and_say_so(client: httpx.Client) -> None:
    body = client.post("/embed", json={"text": LONG_TEXT}).json()
    assert body["truncated"] is True
    batch = client.post("/batch-embed", json={"texts": ["short", LONG_TEXT]}).json()
    assert batch["truncated"] == [False, True]


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/embed", {"text": ""}, "text"),
        ("/embed", {"text": "   "}, "text"),
        ("/embed", {}, "text"),
        ("/batch-embed", {"texts": ["fine", " "]}, "texts.1"),
        ("/batch-embed", {"texts": ["x"] * 101}, "texts"),
        ("/batch-embed", {"texts": []}, "texts"),
        ("/similarity", {"text1": "only one"}, "body"),
        ("/similarity", {"vector1": [1, 2], "vector2": [1]}, "vector2"),
        ("/similarity", {"vector1": [0, 0], "vector2": [1, 1]}, "vector1"),
        ("/v1/embeddings", {"input": "", "model": "minilm"}, "input"),
        ("/v1/embeddings", {"input": ["ok", ""], "model": "minilm"}, "input.1"),
        ("/v1/embeddings", {"input": "x", "model": "minilm", "dimensions": 385}, "dimensions"),
    ],
)
def test_bad_requests_get_422_naming_the_field(
    client: httpx.Client, path: str, payload: dict[str, Any], field: str
) -> None:
    response = client.post(path, json=payload)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in [d["field"] for d in error["details"]], error


def test_similarity_of_texts_and_vectors(client: httpx.Client) -> None:
    close = client.post("/similarity", json={"text1": "a cat", "text2": "a kitten"}).json()
    far = client.post("/similarity", json={"text1": "a cat", "text2": "tax law"}).json()
    assert 0.5 < close["similarity"] <= 1.0 and far["similarity"] < close["similarity"]
    body = client.post("/similarity", json={"vector1": [1, 0], "vector2": [1, 1]}).json()
    assert body["similarity"] == pytest.approx(2**-0.5)


def test_health_stats_and_metrics_count_the_cache(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "healthy"
    before = client.get("/stats").json()
    client.post("/batch-embed", json={"texts": ["stats text", "stats text two"]})
    client.post("/embed", json={"text": "stats text"})
    stats = client.get("/stats").json()
    assert stats["requests"] == before["requests"] + 2
    assert stats["texts_embedded"] == before["texts_embedded"] + 3
    assert stats["cache_hits"] == before["cache_hits"] + 1
    assert stats["cache_misses"] == before["cache_misses"] + 2
    assert 0 < stats["cache_hit_rate"] < 1 and stats["mean_batch_size"] >= 1
    assert set(stats["latency_ms"]) == {"p50", "p95", "p99"}
    metrics = client.get("/metrics").text
    assert (
        f'inferline_cache_hits_total{{cache="embeddings"}} {float(stats["cache_hits"])}' in metrics
    )
    assert 'inferline_cache_misses_total{cache="embeddings"}' in metrics


def test_the_official_openai_client_works_against_v1(
    server: ServerProcess, client: httpx.Client
) -> None:
    import openai

    api = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    default = api.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS[:2])  # base64 on the wire
    floats = api.embeddings.create(model="minilm", input=TEXTS[:2], encoding_format="float")
    assert [d.index for d in default.data] == [0, 1]
    assert default.model == "minilm" and default.usage.prompt_tokens > 0
    assert default.usage.total_tokens == default.usage.prompt_tokens
    direct = client.post("/embed", json={"text": TEXTS[0]}).json()["embedding"]
    for response in (default, floats):
        assert len(response.data[0].embedding) == 384
        assert _cosines([response.data[0].embedding], [direct])[0] >= 0.99999
    short = api.embeddings.create(model="minilm", input="one text", dimensions=64)
    assert len(short.data[0].embedding) == 64
    assert np.linalg.norm(short.data[0].embedding) == pytest.approx(1.0, abs=1e-5)
    assert {"minilm", "all-MiniLM-L6-v2"} <= {m.id for m in api.models.list()}
    with pytest.raises(openai.NotFoundError):
        api.embeddings.create(model="no-such-model", input="x")


def test_minilm_works_as_a_job_and_through_sync_inference(client: httpx.Client) -> None:
    output = client.post("/api/v1/models/minilm/infer", json={"input": {"text": TEXTS[0]}})
    assert output.status_code == 200
    assert output.json()["output"]["dim"] == 384
    created = client.post(
        "/api/v1/jobs", json={"model": "all-MiniLM-L6-v2", "input": {"text": TEXTS[1]}}
    )
    assert created.status_code == 202
    job = wait_for_job(client, created.json()["id"])
    assert job["status"] == "succeeded"
    result: Any = job["result"]
    assert len(result["embedding"]) == 384 and result["truncated"] is False


def test_minilm_is_served_by_two_instances(client: httpx.Client) -> None:
    batching = client.get("/api/v1/models/minilm").json()["batching"]
    assert (batching["max_batch_size"], batching["instances"]) == (64, 2)
