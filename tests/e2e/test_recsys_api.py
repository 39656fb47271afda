"""Source S3's recommendation API through the HTTP front door: `inferline serve` with
MiniLM, the cache on the real Redis (the source's keys under this test's prefix), and an
OpenAI-compatible stand-in for the LLM (a local receiver that records what it is sent)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from redis import Redis

from inferline.testing import databases as dbs
from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, http_server, sqlite_url
from tests.support.requirements import require_server
from tests.support.servers import metric_value

PRODUCTS = [
    {
        "id": "run-1",
        "name": "Road running shoe",
        "description": "Light and fast",
        "category": "shoes",
        "price": 90,
        "tags": ["running"],
    },
    {
        "id": "run-2",
        "name": "Marathon racing trainer",
        "description": "For race day",
        "category": "shoes",
        "price": 120,
        "tags": ["running"],
    },
    {
        "id": "mug-1",
        "name": "Ceramic coffee mug",
        "description": "Holds 300 ml",
        "category": "kitchen",
        "price": 12,
        "tags": ["coffee"],
    },
    {
        "id": "grind-1",
        "name": "Burr coffee grinder",
        "description": "Even grounds",
        "category": "kitchen",
        "price": 60,
        "tags": ["coffee"],
    },
]


class LLMReceiver:
    """Answers chat completions: scores (JSON mode) or a reply naming the first product."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append(body)
                if body.get("response_format"):
                    content = json.dumps({"scores": [0.8], "reasons": ["suits the chat"]})
                else:
                    content = "Try the Marathon racing trainer."
                answer = json.dumps(
                    {
                        "id": "c1",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[LLMReceiver]:
    server = LLMReceiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    require_server(dbs.REDIS)
    prefix = dbs.unique_name("inferline-test")
    yield prefix
    client = Redis.from_url(dbs.redis_url())
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, receiver: LLMReceiver, redis_prefix: str
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("recsys")
    process = http_server(
        "serve",
        sqlite_url(folder / "inferline.db"),
        folder / "server.log",
        "--workers-in-process",
        "0",
        models="minilm",
        cache_url=dbs.redis_url(),
        redis_prefix=redis_prefix,
        recsys_cache_prefix=f"{redis_prefix}:recsys:",
        llm_url=receiver.url,
        llm_model="stand-in",
        domain_events_url=dbs.redis_url(),
        llm_max_attempts="1",
    )
    process.start().wait_ready()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        answer = http.post("/api/v1/products", json={"products": PRODUCTS})
        assert answer.status_code == 200, answer.text
        yield http


def test_the_catalog_upserts_reads_and_finds_similar_products(client: httpx.Client) -> None:
    again = client.post("/api/v1/products", json={"products": PRODUCTS[:1]}).json()
    assert again == {
        "created": 0,
        "updated": 1,
        "embedded": 0,
        "unchanged_text": 1,
        "fallback": None,
    }
    found = client.get("/api/v1/products/mug-1").json()
    assert found["name"] == "Ceramic coffee mug" and found["embedded"] is True
    similar = client.get("/api/v1/products/mug-1/similar", params={"k": 1}).json()
    assert [s["product"]["id"] for s in similar["similar"]] == ["grind-1"]
    missing = client.get("/api/v1/products/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"products": [{**PRODUCTS[0], "id": f"p{i}"} for i in range(1001)]}, 413, "1001"),
        ({"products": [{"id": "x", "category": "c", "price": 1}]}, 422, "name"),
        ({"products": [{**PRODUCTS[0], "price": -1}]}, 422, "price"),
        ({"products": [PRODUCTS[0], PRODUCTS[0]]}, 422, "twice"),
        ({"products": []}, 422, "products"),
    ],
)
def test_bad_catalog_requests_are_refused_and_change_nothing(
    client: httpx.Client, body: dict[str, Any], status: int, named: str
) -> None:
    answer = client.post("/api/v1/products", json=body)
    assert answer.status_code == status, answer.text
    assert named in answer.text
    assert client.get("/api/v1/products/p0").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"user_id": "u", "type": "view"}, 422, "needs a product_id"),
        ({"user_id": "u", "type": "stare", "product_id": "run-1"}, 422, "type"),
        ([{"user_id": "u", "type": "view", "product_id": "ghost"}], 404, "ghost"),
        ([], 422, "at least one event"),
    ],
)
def test_bad_events_are_refused(client: httpx.Client, body: Any, status: int, named: str) -> None:
    answer = client.post("/api/v1/events", json=body)
    assert answer.status_code == status, answer.text
    assert named in answer.text


def test_behaviour_drives_recommendations_and_invalidates_the_redis_keys(
    client: httpx.Client, redis_prefix: str
) -> None:
    redis = Redis.from_url(dbs.redis_url())
    prefix = f"{redis_prefix}:recsys:default:"
    for user in ("x", "y"):
        events = [{"user_id": user, "type": "order", "product_id": p} for p in ("run-1", "grind-1")]
        assert client.post("/api/v1/events", json=events).status_code == 200
    # inside the trending window (the last 24 hours) whenever the test runs
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    one = {"user_id": "zoe", "type": "view", "product_id": "run-1", "at": at}
    assert client.post("/api/v1/events", json=one).json() == {"accepted": 1, "users": ["zoe"]}
    assert redis.exists(f"{prefix}user:preference:zoe")

    answer = client.get("/api/v1/users/zoe/recommendations", params={"k": 3}).json()
    assert answer["weights"] == {"content": 0.3, "collaborative": 0.3, "llm": 0.4}
    assert answer["unavailable"] == {}
    first = answer["items"][0]
    assert set(first["scores"]) == {"content", "collaborative", "llm"}
    assert first["scores"]["llm"] == 0.8 and "suits the chat" in first["reason"]
    assert redis.exists(f"{prefix}rec:user:zoe")

    plain = client.get("/api/v1/users/zoe/recommendations", params={"k": 3, "llm": "false"})
    assert plain.json()["weights"] == {"content": 0.5, "collaborative": 0.5, "llm": 0.0}
    assert plain.json()["unavailable"]["llm"] == "not asked (llm=false)"
    cached = client.get("/api/v1/users/zoe/recommendations", params={"k": 3, "llm": "false"})
    assert cached.json()["cached"] is True
    metrics = client.get("/metrics").text
    hits = metric_value(metrics, "inferline_recsys_cache_lookups_total", kind="user", outcome="hit")
    assert hits is not None and hits >= 1
    computed = metric_value(
        metrics, "inferline_recsys_recommendation_generation_seconds_count", llm="yes"
    )
    assert computed is not None and computed >= 1

    more = {"user_id": "zoe", "type": "cart", "product_id": "run-2"}
    assert client.post("/api/v1/events", json=more).status_code == 200
    assert not redis.exists(f"{prefix}rec:user:zoe")  # invalidated by the event

    trending = client.get("/api/v1/recommendations/trending", params={"k": 2}).json()
    assert [i["product"]["id"] for i in trending["items"]] == ["run-1", "grind-1"]
    assert redis.type(f"{prefix}rec:trending") == b"zset"
    popular = client.get("/api/v1/recommendations/popular", params={"category": "kitchen"})
    assert [i["product"]["id"] for i in popular.json()["items"]] == ["grind-1"]
    assert redis.exists(f"{prefix}rec:popular:category:kitchen")
    client.get("/api/v1/products/run-1/similar")
    assert redis.exists(f"{prefix}rec:similar:run-1")
    redis.close()


def test_a_conversation_stores_messages_replies_and_is_searchable(
    client: httpx.Client, receiver: LLMReceiver, redis_prefix: str
) -> None:
    created = client.post("/api/v1/conversations", json={"user_id": "ivy"})
    assert created.status_code == 201
    conversation = created.json()["id"]
    sent = client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"content": "I want running shoes for a marathon"},
    )
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["reply"]["content"] == "Try the Marathon racing trainer."
    assert body["fallbacks"] == {}
    names = [i["product"]["name"] for i in body["recommendations"]["items"]]
    assert names[0] in ("Marathon racing trainer", "Road running shoe")
    system = receiver.requests[-1]["messages"][0]["content"]
    assert all(name in system for name in names)  # the products were in the LLM's context
    listed = client.get(f"/api/v1/conversations/{conversation}/messages").json()
    assert [m["role"] for m in listed["messages"]] == ["user", "assistant"]
    client.post(
        f"/api/v1/conversations/{conversation}/messages", json={"content": "And a coffee mug?"}
    )
    found = client.get(
        "/api/v1/conversations/search", params={"q": "marathon sneakers", "user_id": "ivy"}
    ).json()["results"]
    assert found[0]["message"]["content"] == "I want running shoes for a marathon"
    assert {r["message"]["role"] for r in found} == {"user"}
    # the outbox's dispatcher sent the messages' domain events to the stream
    redis = Redis.from_url(dbs.redis_url())
    stream = f"{redis_prefix}:domain.conv-msg-created"
    poll_until(
        lambda: redis.xlen(stream),
        "conv-msg-created on the stream",
        timeout=30,
        accept=lambda n: n >= 4,
    )
    records: list[Any] = list(redis.xrange(stream))  # type: ignore[arg-type]
    streamed = b" ".join(value for _, fields in records for value in fields.values())
    assert body["message"]["id"].encode() in streamed
    assert body["reply"]["id"].encode() in streamed
    assert redis.xlen(f"{redis_prefix}:domain.user-preference-updated") >= 1
    assert redis.xlen(f"{redis_prefix}:domain.order-placed") >= 1
    redis.close()
    unknown = client.get("/api/v1/conversations/0192b4a0-0000-7000-8000-000000000000/messages")
    assert unknown.status_code == 404
    blank = client.post(f"/api/v1/conversations/{conversation}/messages", json={"content": " "})
    assert blank.status_code == 422
