"""Authentication required: every route refuses a request without a valid key (the
routes are listed from the OpenAPI schema and the app's WebSocket routes, so a new
route cannot be forgotten), scopes decide what a key may do, one tenant never sees
another's resources, and per-key limits answer 429 with Retry-After."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from starlette.websockets import WebSocketDisconnect

from inferline.api.app import websocket_paths
from inferline.core.settings import Settings
from inferline.testing.polling import poll_until
from tests.support.auth import SecuredApp, headers, secured_app

PUBLIC = {
    ("GET", "/livez"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/healthz"),  # source S3's embedding-model probe
    ("GET", "/v2/health/live"),  # the KServe v2 probes
    ("GET", "/v2/health/ready"),
}
"""Open by decision (docs/security.md): probes and Prometheus carry no key and show no
tenant's data. The dashboard's files (`/`, `/assets/…`) are outside the schema."""


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/jobs.db",
        vector_path=str(tmp_path / "vectors"),
        **extra,
    )


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecuredApp]:
    # source S0's news stream is one corpus, alpha's (INFERLINE_NEWS_TENANT)
    monkeypatch.setenv("INFERLINE_NEWS_TENANT", "alpha")
    with secured_app(_settings(tmp_path), workers=1) as app:
        yield app


def _operations(app: SecuredApp) -> list[tuple[str, str, dict[str, Any]]]:
    schema = app.app.openapi()
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _websockets(app: SecuredApp) -> list[str]:
    return websocket_paths(app.app)


def _concrete(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    # any other parameter: a well-formed id that exists nowhere
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid.uuid4()) + path[end + 1 :]
    return path


def test_every_route_refuses_a_request_without_a_valid_key(secured: SecuredApp) -> None:
    client = secured.client
    operations = _operations(secured)
    assert len(operations) > 30  # the whole API, its apps included
    bad_credentials: list[dict[str, str]] = [
        {},
        headers("il_abcdefgh_" + "x" * 43),  # well-formed, unknown
        headers("not-a-key"),
        {"X-API-Key": "il_00000000_" + "y" * 43},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ]
    checked = 0
    for method, path, operation in operations:
        if (method, path) in PUBLIC:
            assert operation["security"] == []  # the schema says so too
            assert client.request(method, path).status_code != 401  # (404: no MiniLM here)
            continue
        assert operation["security"] == [{"bearer": []}, {"apiKey": []}], (method, path)
        url = _concrete(path, {})
        for credential in bad_credentials:
            response = client.request(method, url, headers=credential, json={})
            assert response.status_code == 401, (method, path, credential, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            checked += 1
    assert checked == 5 * (len(operations) - len(PUBLIC))

    sockets = _websockets(secured)
    assert {"/api/v1/events", "/api/v1/dashboard/ws", "/api/v1/news/ws"} <= set(sockets)
    for path in sockets:
        for query in ("", "?api_key=il_abcdefgh_" + "z" * 43):
            with (
                pytest.raises(WebSocketDisconnect) as refused,
                client.websocket_connect(path + query),
            ):
                pass
            assert refused.value.code == 1008, path

    # the dashboard's page and assets load without a key (it asks for one itself)
    assert client.get("/").status_code == 200


def test_a_key_opens_the_routes_its_scopes_allow(secured: SecuredApp) -> None:
    client = secured.client
    reader = headers(secured.key("acme", "read"))
    submitter = headers(secured.key("acme", "submit"))
    admin = headers(secured.key("acme", "admin"))
    job = {"model": "moving-average", "input": {"series": [1, 2, 3, 4]}}

    assert client.get("/api/v1/jobs", headers=reader).status_code == 200
    refused = client.post("/api/v1/jobs", json=job, headers=reader)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "submit" in refused.json()["error"]["message"]
    created = client.post(
        "/api/v1/jobs", json=job, headers={"X-API-Key": submitter["Authorization"][7:]}
    )
    assert created.status_code == 202
    assert client.get("/api/v1/jobs", headers=submitter).status_code == 403  # no read

    # destructive and key management: admin
    client.put("/api/v1/collections/docs", json={"dimension": 2}, headers=submitter)
    assert client.delete("/api/v1/collections/docs", headers=submitter).status_code == 403
    assert client.delete("/api/v1/collections/docs", headers=admin).status_code == 204
    assert client.get("/api/v1/keys", headers=reader).status_code == 403
    assert (
        client.post("/api/v1/keys", json={"scopes": ["read"]}, headers=submitter).status_code == 403
    )
    # cancelling one's own job needs only submit
    job_id = created.json()["id"]
    assert client.delete(f"/api/v1/jobs/{job_id}", headers=submitter).status_code in (200, 409)


def test_keys_over_http_are_shown_once_and_revoked_at_once(secured: SecuredApp) -> None:
    client = secured.client
    admin = headers(secured.key("acme", "admin,read"))
    made = client.post(
        "/api/v1/keys", json={"scopes": ["read"], "name": "ci", "expires": "1d"}, headers=admin
    )
    assert made.status_code == 201, made.text
    secret = made.json()["key"]
    assert secret.startswith("il_") and made.json()["tenant"] == "acme"
    listed = client.get("/api/v1/keys", headers=admin).json()["keys"]
    assert made.json()["id"] in [k["id"] for k in listed]
    assert secret not in json.dumps(listed)  # never shown again, nor its hash
    assert all("digest" not in k for k in listed)
    assert client.get("/api/v1/jobs", headers=headers(secret)).status_code == 200

    revoked = client.delete(f"/api/v1/keys/{made.json()['id']}", headers=admin)
    assert revoked.status_code == 204
    answer = client.get("/api/v1/jobs", headers=headers(secret))
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "the API key was revoked"

    bad = client.post("/api/v1/keys", json={"scopes": ["root"]}, headers=admin)
    assert bad.status_code == 422
    expired = client.post(
        "/api/v1/keys", json={"scopes": ["read"], "expires": "tomorrow"}, headers=admin
    )
    assert expired.status_code == 422 and "expiry" in expired.json()["error"]["message"]


def test_an_expired_key_is_refused(secured: SecuredApp) -> None:
    key = secured.key("acme", "read", expires_at=secured.container.auth.keys.clock.now() + 0.5)
    poll_until(
        lambda: secured.client.get("/api/v1/jobs", headers=headers(key)).status_code == 401,
        "the key expires",
        timeout=10,
    )
    answer = secured.client.get("/api/v1/jobs", headers=headers(key)).json()
    assert answer["error"]["message"] == "the API key has expired"


def test_the_openai_client_authenticates_with_its_api_key(secured: SecuredApp) -> None:
    key = secured.key("acme", "read")
    transport = secured.client  # an httpx.Client bound to the app
    client = openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=transport)
    assert list(client.models.list()) == []  # authenticated (no embedding model here)
    wrong = openai.OpenAI(
        base_url="http://testserver/v1", api_key="il_abcdefgh_" + "q" * 43, http_client=transport
    )
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    # chat completions answer errors in OpenAI's shape, authentication's included
    refused = secured.client.post("/v1/chat/completions", json={})
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"


def _markers_of(app: SecuredApp, key: dict[str, str]) -> dict[str, str]:
    """Resources of one tenant: a finished job, a collection with an item, a key."""
    client = app.client
    job = client.post(
        "/api/v1/jobs",
        json={
            "model": "moving-average",
            "input": {"series": [7, 7, 7, 4242]},
            "metadata": {"m": "ALPHA-JOB-MARK"},
        },
        headers=key,
    ).json()
    poll_until(
        lambda: (
            client.get(f"/api/v1/jobs/{job['id']}", headers=key).json()["status"] == "succeeded"
        ),
        "alpha's job finishes",
        timeout=30,
    )
    assert (
        client.put("/api/v1/collections/alpha-docs", json={"dimension": 2}, headers=key).status_code
        == 201
    )
    upsert = client.post(
        "/api/v1/collections/alpha-docs/items",
        json={
            "items": [
                {"id": "alpha-item", "vector": [0.1, 0.9], "metadata": {"m": "ALPHA-ITEM-MARK"}}
            ]
        },
        headers=key,
    )
    assert upsert.status_code == 200, upsert.text
    made = client.post(
        "/api/v1/keys", json={"scopes": ["read"], "name": "ALPHA-KEY-MARK"}, headers=key
    ).json()
    article = client.post(
        "/inference/single",
        json={"title": "ALPHA-NEWS-MARK rates hold", "url": "https://news.example.com/alpha"},
        headers=key,
    )
    assert article.status_code == 200, article.text
    return {
        "job_id": job["id"],
        "name": "alpha-docs",
        "item_id": "alpha-item",
        "key_id": made["id"],
        "prefix": made["prefix"],
    }


def _body_for(path: str, values: dict[str, str]) -> dict[str, Any]:
    if path.endswith("/search"):
        return {"vector": [0.1, 0.9], "k": 5}
    if path.endswith("/items"):
        return {"items": [{"id": "beta-item", "vector": [0.5, 0.5]}]}
    if path == "/api/v1/collections/{name}":
        return {"dimension": 3}
    return {}


def test_one_tenant_never_sees_anothers_resources(secured: SecuredApp) -> None:
    client = secured.client
    alpha = headers(secured.key("alpha"))
    beta = headers(secured.key("beta"))
    values = _markers_of(secured, alpha)
    marks = [
        values["job_id"],
        values["key_id"],
        values["prefix"],
        "ALPHA-JOB-MARK",
        "ALPHA-ITEM-MARK",
        "ALPHA-KEY-MARK",
        "alpha-item",
        "ALPHA-NEWS-MARK",
    ]

    # alpha sees its own (so the markers would be found if they leaked)
    seen = " ".join(
        client.get(p, headers=alpha).text
        for p in (
            "/api/v1/jobs",
            "/api/v1/keys",
            "/api/v1/dashboard/snapshot",
            "/api/v1/news/articles",
        )
    )
    assert values["job_id"] in seen and "ALPHA-KEY-MARK" in seen and "ALPHA-NEWS-MARK" in seen

    walked = 0
    for method, path, _ in _operations(secured):
        url = _concrete(path, values)
        response = client.request(method, url, headers=beta, json=_body_for(path, values))
        # (a 404 may name the id asked for: that is the caller's own input)
        leaked = [mark for mark in marks if mark in response.text and mark not in url]
        assert not leaked, (method, path, response.status_code, leaked)
        if "{" in path and any(f"{{{p}}}" in path for p in ("job_id", "key_id", "item_id")):
            assert response.status_code in (404, 422), (method, path, response.status_code)
        walked += 1
    assert walked > 25

    # another tenant's ids answer 404, not 403, and change nothing
    job = f"/api/v1/jobs/{values['job_id']}"
    assert client.get(job, headers=beta).status_code == 404
    assert client.get("/api/v1/collections/alpha-docs", headers=beta).status_code == 404
    assert client.delete(f"/api/v1/keys/{values['key_id']}", headers=beta).status_code == 404
    assert client.get("/api/v1/news/articles", headers=beta).status_code == 404
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/api/v1/news/ws", headers=beta),
    ):
        pass
    assert client.get(job, headers=alpha).status_code == 200
    described = client.get("/api/v1/collections/alpha-docs", headers=alpha).json()
    assert described["count"] == 1 and described["dimension"] == 2
    # beta's collection of the same name is its own
    assert client.put(
        "/api/v1/collections/alpha-docs", json={"dimension": 3}, headers=beta
    ).status_code in (200, 201)
    names = [
        c["name"] for c in client.get("/api/v1/collections", headers=alpha).json()["collections"]
    ]
    assert names == ["alpha-docs"]
    assert client.get("/api/v1/collections/alpha-docs", headers=alpha).json()["dimension"] == 2
    # the public metrics carry no tenant's ids: routes are labelled by their templates
    metrics = client.get("/metrics").text
    assert not [mark for mark in [*marks, "alpha-docs", "alpha", "beta"] if mark in metrics]


def test_job_events_reach_only_their_tenant(secured: SecuredApp) -> None:
    client = secured.client
    alpha_key, beta_key = secured.key("alpha"), secured.key("beta")
    job = {"model": "moving-average", "input": {"series": [1, 2, 3]}}
    with (
        client.websocket_connect(f"/api/v1/events?api_key={alpha_key}") as alpha_ws,
        client.websocket_connect("/api/v1/events", headers=headers(beta_key)) as beta_ws,
    ):
        alpha_job = client.post("/api/v1/jobs", json=job, headers=headers(alpha_key)).json()["id"]
        assert alpha_ws.receive_json()["job"]["id"] == alpha_job
        beta_job = client.post("/api/v1/jobs", json=job, headers=headers(beta_key)).json()["id"]
        # beta's first event is its own job's: alpha's (published first) never came
        assert beta_ws.receive_json()["job"]["id"] == beta_job
    with client.websocket_connect(f"/api/v1/dashboard/ws?api_key={beta_key}") as dashboard:
        assert alpha_job not in json.dumps(dashboard.receive_json())


def test_request_rate_per_key_answers_429_with_retry_after(tmp_path: Path) -> None:
    with secured_app(_settings(tmp_path, rate_limit="3/minute")) as app:
        limited, own = (
            headers(app.key("acme", "read")),
            headers(app.key("acme", "read", rate_limit="100/minute")),
        )
        answers = [app.client.get("/api/v1/jobs", headers=limited) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # per key: another key of the same tenant has its own count (and its own limit)
        assert all(app.client.get("/api/v1/jobs", headers=own).status_code == 200 for _ in range(5))
        # the OpenAI-compatible routes count too
        openai_key = headers(app.key("acme", "read"))
        for _ in range(3):
            app.client.get("/v1/models", headers=openai_key)
        over = app.client.get("/v1/models", headers=openai_key)
        assert over.status_code == 429 and "retry-after" in over.headers


def test_concurrent_jobs_per_key_answer_429(tmp_path: Path) -> None:
    with secured_app(_settings(tmp_path), workers=0) as app:  # jobs stay queued
        key = headers(app.key("acme", max_concurrent_jobs=2))
        job = {"model": "moving-average", "input": {"series": [1, 2, 3]}}
        statuses = [
            app.client.post("/api/v1/jobs", json=job, headers=key).status_code for _ in range(3)
        ]
        assert statuses == [202, 202, 429]
        batch = app.client.post("/api/v1/jobs/batch", json={"jobs": [job]}, headers=key)
        assert batch.status_code == 429 and "2 unfinished jobs" in batch.json()["error"]["message"]
        # another tenant is not held back by acme's jobs
        other = headers(app.key("other", max_concurrent_jobs=1))
        assert app.client.post("/api/v1/jobs", json=job, headers=other).status_code == 202


def test_auth_off_is_the_default_tenant_with_every_scope(tmp_path: Path) -> None:
    with secured_app(_settings(tmp_path), auth=False) as app:
        assert app.client.get("/api/v1/jobs").status_code == 200
        assert app.client.put("/api/v1/collections/docs", json={"dimension": 2}).status_code == 201
        assert app.client.delete("/api/v1/collections/docs").status_code == 204
