"""Vector collections over HTTP: texts embedded by MiniLM, filters, and a restart and a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from inferline.testing.server import ServerProcess, http_server, sqlite_url

ITEMS = [
    {"id": "cat", "text": "Cats purr and sleep all day.", "metadata": {"lang": "en", "n": 1}},
    {"id": "dog", "text": "Dogs bark at the postman.", "metadata": {"lang": "en", "n": 2}},
    {"id": "chat", "text": "Le chat dort sur le canapé.", "metadata": {"lang": "fr", "n": 3}},
    {
        "id": "tax",
        "text": "Income tax returns are due in April.",
        "metadata": {"lang": "en", "n": 4},
    },
]


def _server(folder: Path) -> ServerProcess:
    return http_server(
        "serve", sqlite_url(folder / "inferline.db"), folder / "server.log", models="minilm"
    )


def _search(client: httpx.Client, **body: object) -> dict[str, list[Any]]:
    response = client.post("/api/v1/collections/pets/search", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, list[object]] = response.json()
    return result


def test_collections_search_by_text_and_vector_and_survive_restarts(tmp_path: Path) -> None:
    server = _server(tmp_path).start().wait_ready(timeout=110)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            created = client.put("/api/v1/collections/pets", json={"metric": "cosine"})
            assert created.status_code == 201 and created.json()["dimension"] == 384
            assert client.put("/api/v1/collections/pets", json={}).status_code == 200
            assert client.put("/api/v1/collections/pets", json={"dimension": 3}).status_code == 409
            assert client.post("/api/v1/collections/pets/items", json={"items": ITEMS}).json() == {
                "upserted": 4
            }
            kitten = _search(client, text="a sleepy kitten", k=2)
            assert kitten["ids"][0] == "cat" and len(kitten["ids"]) == 2
            assert kitten["scores"][0] >= kitten["scores"][1]
            french = _search(client, text="a sleepy kitten", k=5, filter={"lang": "fr"})
            assert french["ids"] == ["chat"] and french["metadata"] == [{"lang": "fr", "n": 3}]
            vector = client.post("/embed", json={"text": ITEMS[3]["text"]}).json()["embedding"]
            assert _search(client, vector=vector, k=1)["ids"] == ["tax"]
            bad = client.post("/api/v1/collections/pets/search", json={"vector": [1.0], "k": 1})
            assert bad.status_code == 422
            assert (
                client.post("/api/v1/collections/nope/search", json={"text": "x"}).status_code
                == 404
            )
        server.kill()  # a crash: nothing flushed at shutdown

        server = _server(tmp_path).start().wait_ready(timeout=110)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.get("/api/v1/collections/pets").json()["count"] == 4
            assert _search(client, text="a sleepy kitten", k=1)["ids"] == ["cat"]
            assert client.delete("/api/v1/collections/pets/items/cat").status_code == 204
            assert client.delete("/api/v1/collections/pets/items/cat").status_code == 404
        server.stop()

        server = _server(tmp_path).start().wait_ready(timeout=110)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.get("/api/v1/collections/pets").json()["count"] == 3
            assert "cat" not in _search(client, text="a sleepy kitten", k=5)["ids"]
    finally:
        server.stop()
    assert (tmp_path / "inferline-vectors" / "pets").is_dir()  # next to the database


def test_upserts_and_searches_are_validated(tmp_path: Path) -> None:
    server = _server(tmp_path).start().wait_ready(timeout=110)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert (
                client.put(
                    "/api/v1/collections/small", json={"dimension": 2, "metric": "l2"}
                ).status_code
                == 201
            )
            cases = [
                ({"items": [{"id": "a", "vector": [1, 0, 0]}]}, "items.0.vector"),
                ({"items": [{"id": "a", "text": "x", "vector": [1, 0]}]}, "items.0"),
                ({"items": [{"id": "a", "text": " "}]}, "items.0.text"),
                ({"items": []}, "items"),
            ]
            for payload, field in cases:
                response = client.post("/api/v1/collections/small/items", json=payload)
                assert response.status_code == 422, (payload, response.text)
                assert field in [d["field"] for d in response.json()["error"]["details"]]
            assert client.put("/api/v1/collections/..", json={}).status_code in (404, 422)
            assert client.put("/api/v1/collections/bad%20name", json={}).status_code == 422
    finally:
        server.stop()
