"""Authentication as an operator meets it: `inferline keys` in the shell, `inferline api`
requiring keys by default, `inferline serve --ssl-certfile/--ssl-keyfile`, secrets
read from files and never written to a log."""

from __future__ import annotations

import json
import os
import ssl
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from inferline.testing import databases as dbs
from inferline.testing.polling import poll_until
from inferline.testing.server import ServerProcess, http_server, server_env, sqlite_url
from tests.support.auth import inferline_cli
from tests.support.requirements import require_server
from tests.support.tls import self_signed


def _required_api(database_url: str, log: Path, **settings: str) -> ServerProcess:
    """`inferline api` with keys required: the command's default (no INFERLINE_AUTH)."""
    server = http_server("api", database_url, log, models="moving-average", **settings)
    del server.env["INFERLINE_AUTH"]
    return server


def test_keys_made_in_the_shell_open_inferline_api(tmp_path: Path) -> None:
    secret_file = tmp_path / "auth_secret"
    secret_file.write_text("a-server-secret\n")
    database_url = sqlite_url(tmp_path / "jobs.db")
    env = server_env(database_url, auth_secret_file=str(secret_file))
    made = inferline_cli(env, "keys", "create", "--tenant", "acme", "--scopes", "read,submit")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("il_") and "shown only now" in made.stderr
    listed = inferline_cli(env, "keys", "list", "--tenant", "acme")
    rows = json.loads(listed.stdout)
    assert [row["tenant"] for row in rows] == ["acme"] and key not in listed.stdout
    bad = inferline_cli(env, "keys", "create", "--tenant", "acme", "--scopes", "root")
    assert bad.returncode != 0 and "scopes must be some of" in bad.stderr

    server = _required_api(
        database_url, tmp_path / "api.log", auth_secret_file=str(secret_file)
    ).start()
    try:
        server.wait_ready()
        assert "authentication required (API keys)" in server.log_tail(200)
        assert httpx.get(f"{server.url}/api/v1/jobs").status_code == 401
        client_env = {**os.environ, "INFERLINE_URL": server.url, "INFERLINE_API_KEY": key}
        submitted = inferline_cli(
            client_env, "submit", "moving-average", "--input", '{"series": [1, 2, 3]}'
        )
        assert submitted.returncode == 0, submitted.stderr
        assert json.loads(submitted.stdout)["status"] == "queued"
        no_key = {k: v for k, v in client_env.items() if k != "INFERLINE_API_KEY"}
        refused = inferline_cli(no_key, "jobs")
        assert refused.returncode == 1 and "401 unauthenticated" in refused.stderr

        revoked = inferline_cli(env, "keys", "revoke", rows[0]["id"])
        assert json.loads(revoked.stdout)["revoked_at"] is not None
        poll_until(
            lambda: (
                httpx.get(
                    f"{server.url}/api/v1/jobs", headers={"Authorization": f"Bearer {key}"}
                ).status_code
                == 401
            ),
            "the revocation reaches the API process",
            timeout=10,
        )
    finally:
        server.stop()


def test_serve_speaks_tls_with_the_given_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = http_server(
        "serve",
        sqlite_url(tmp_path / "jobs.db"),
        tmp_path / "server.log",
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
        models="moving-average",
    ).start()
    https = server.url.replace("http://", "https://")
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        poll_until(lambda: _status(https + "/readyz", trusted) == 200, "TLS readiness", timeout=60)
        with httpx.Client(verify=trusted) as client:
            job = {"model": "moving-average", "input": {"series": [1, 2, 3]}}
            assert client.post(f"{https}/api/v1/jobs", json=job).status_code == 202
        with pytest.raises(httpx.ConnectError):  # an untrusted certificate is refused
            httpx.get(https + "/livez", verify=ssl.create_default_context())
        with pytest.raises(httpx.RemoteProtocolError):  # and plain HTTP is not served
            httpx.get(server.url + "/livez")
        assert "authentication is OFF (serve on a loopback address)" in server.log_tail(200)
        assert f"https://127.0.0.1:{server.port}" in server.log_tail(200)
    finally:
        server.stop()


def _status(url: str, verify: ssl.SSLContext) -> int | None:
    try:
        return httpx.get(url, verify=verify, timeout=5).status_code
    except httpx.HTTPError:
        return None


def test_no_secret_reaches_any_log(tmp_path: Path) -> None:
    """Every secret set to a unique marker, read from files where it can be; the server
    is exercised with good and bad credentials; no log line holds any marker."""
    require_server(dbs.POSTGRES)
    database = dbs.unique_name("inferline_sec")
    import asyncio

    base_url = asyncio.run(dbs.create_postgres_database(database))
    markers = {
        name: f"MARK{uuid.uuid4().hex[:10]}{name.upper()}"
        for name in ("db", "secret", "llm", "badkey", "badjwt")
    }
    # PostgreSQL here trusts local users: the password is sent and ignored, never refused
    database_url = base_url.replace("postgres@", f"postgres:{markers['db']}@", 1)
    assert markers["db"] in database_url
    files = tmp_path / "secrets"
    files.mkdir()
    for name, value in (("database_url", database_url), ("auth_secret", markers["secret"])):
        (files / name).write_text(value + "\n")
        (files / name).chmod(0o600)
    (files / "llm_api_key").write_text(markers["llm"])
    log = tmp_path / "api.log"
    server = _required_api(
        "unused",
        log,
        database_url_file=str(files / "database_url"),
        auth_secret_file=str(files / "auth_secret"),
        llm_api_key_file=str(files / "llm_api_key"),
        llm_url="http://127.0.0.1:9/v1",
        llm_model="remote-model",
        log_level="DEBUG",
    )
    del server.env["INFERLINE_DATABASE_URL"]
    keys_env = {k: v for k, v in server.env.items()}
    made = inferline_cli(keys_env, "keys", "create", "--tenant", "acme", "--scopes", "read,submit")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    markers["key"] = key
    migrated = inferline_cli(keys_env, "migrate")
    assert markers["db"] not in migrated.stdout + migrated.stderr
    try:
        server.start().wait_ready()
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, timeout=10) as client:
            job = {"model": "moving-average", "input": {"series": [1, 2, 3]}}
            assert client.post("/api/v1/jobs", json=job, headers=auth).status_code == 202
            assert client.get("/api/v1/jobs", headers=auth).status_code == 200
            assert client.get("/api/v1/jobs", headers={"X-API-Key": key}).status_code == 200
            bad = {"Authorization": f"Bearer il_abcdefgh_{markers['badkey']}"}
            assert client.get("/api/v1/jobs", headers=bad).status_code == 401
            jwt_like = {"Authorization": f"Bearer a.{markers['badjwt']}.c"}
            assert client.get("/api/v1/jobs", headers=jwt_like).status_code == 401
            assert client.get(f"/api/v1/jobs?api_key={key}").status_code == 401
            assert client.get("/health", headers=auth).status_code == 200
        ws_url = server.url.replace("http://", "ws://") + f"/api/v1/events?api_key={key}"
        with connect(ws_url, open_timeout=10):
            pass
    finally:
        server.stop()
        asyncio.run(dbs.drop_postgres_database(database))
    written = log.read_text()
    assert "authentication required" in written  # the log is the server's, and full
    found = {name: value for name, value in markers.items() if value in written}
    assert not found, f"secrets in the log: {sorted(found)}"
