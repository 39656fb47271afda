"""JWTs from an identity provider instead of API keys: RS256 tokens signed here, the
keys as a JWKS file or served by a local HTTP server; tenant and scopes from claims."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from inferline.core.settings import Settings
from tests.support.auth import headers, secured_app

ISSUER = "https://id.example.test/"
AUDIENCE = "inferline"


class Signer:
    """An identity provider's signing key and its JWKS."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300}
        body.update(claims)
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer("key-1")


@pytest.fixture
def jwks_server(signer: Signer) -> Iterator[str]:
    """The provider's `.well-known/jwks.json` on a local port."""
    body = json.dumps(signer.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def _settings(tmp_path: Path, **jwks: Any) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/jobs.db",
        vector_path=str(tmp_path / "vectors"),
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        **jwks,
    )


def test_tokens_signed_by_the_jwks_file_authenticate(tmp_path: Path, signer: Signer) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signer.jwks()))
    with secured_app(_settings(tmp_path, jwt_jwks_file=str(jwks))) as app:
        client = app.client
        job = {"model": "moving-average", "input": {"series": [1, 2, 3]}}
        alpha = headers(signer.token(tenant="alpha", scope="read submit"))
        created = client.post("/api/v1/jobs", json=job, headers=alpha)
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        assert client.get(f"/api/v1/jobs/{job_id}", headers=alpha).status_code == 200
        beta = headers(signer.token(tenant="beta", scope="read"))
        assert client.get(f"/api/v1/jobs/{job_id}", headers=beta).status_code == 404
        assert client.post("/api/v1/jobs", json=job, headers=beta).status_code == 403

        def refused(token: str) -> str:
            answer = client.get("/api/v1/jobs", headers=headers(token))
            assert answer.status_code == 401, answer.text
            message: str = answer.json()["error"]["message"]
            return message

        assert refused(signer.token(tenant="a", scope="read", exp=int(time.time()) - 120)) == (
            "the token has expired"
        )
        assert "audience" in refused(signer.token(tenant="a", scope="read", aud="other"))
        assert "issuer" in refused(signer.token(tenant="a", scope="read", iss="https://evil/"))
        assert "tenant" in refused(signer.token(scope="read"))
        assert "unknown key" in refused(Signer("key-2").token(tenant="a", scope="read"))
        forged = Signer("key-1").token(tenant="alpha", scope="read admin")  # same kid, other key
        assert refused(forged) == "invalid token"
        unsigned = jwt.encode({"tenant": "alpha", "scope": "read"}, key="", algorithm="none")
        assert refused(unsigned) == "invalid token"  # alg "none" is never accepted
        # API keys still work beside tokens
        assert (
            client.get("/api/v1/jobs", headers=headers(app.key("alpha", "read"))).status_code == 200
        )


def test_tokens_signed_by_the_jwks_url_authenticate_with_claim_names_of_choice(
    tmp_path: Path, signer: Signer, jwks_server: str
) -> None:
    settings = _settings(tmp_path, jwt_jwks_url=jwks_server).model_copy(
        update={"jwt_tenant_claim": "org", "jwt_scopes_claim": "permissions"}
    )
    with secured_app(settings) as app:
        token = signer.token(org="alpha", permissions=["read", "submit"])
        assert app.client.get("/api/v1/jobs", headers=headers(token)).status_code == 200
        with app.client.websocket_connect(f"/api/v1/events?api_key={token}"):
            pass  # accepted
        no_scope = signer.token(org="alpha", permissions=["write"])
        assert app.client.get("/api/v1/jobs", headers=headers(no_scope)).status_code == 403


def test_symmetric_algorithms_are_refused_in_the_settings() -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        Settings(jwt_algorithms="HS256")  # type: ignore[arg-type]
