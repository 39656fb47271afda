"""`TokenVerifier` with PyJWT: signature against a JWKS (a file, or a URL fetched and
cached), issuer, audience, expiry and not-before."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

from inferline.domain.errors import Unauthenticated, Unavailable

log = logging.getLogger(__name__)

JWKS_CACHE_SECONDS = 300.0
LEEWAY_SECONDS = 30.0


class JwtVerifier:
    """Verifies RS/ES/PS-signed JWTs against the keys of a JWKS."""

    def __init__(
        self,
        *,
        issuer: str | None,
        audience: str | None,
        jwks_url: str | None = None,
        jwks_file: str | None = None,
        algorithms: tuple[str, ...] = ("RS256",),
    ) -> None:
        if (jwks_url is None) == (jwks_file is None):
            raise ValueError("a JWT verifier needs exactly one of jwks_url and jwks_file")
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.jwks_file = jwks_file
        self.algorithms = list(algorithms)
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _load(self) -> dict[str, PyJWK]:
        if self.jwks_file is not None:
            text = await asyncio.to_thread(Path(self.jwks_file).read_text)
        else:
            assert self.jwks_url is not None
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.get(self.jwks_url)
                    response.raise_for_status()
                    text = response.text
            except httpx.HTTPError as exc:
                log.warning("cannot fetch the JWKS: %s", type(exc).__name__)
                raise Unavailable("the identity provider's keys cannot be fetched") from None
        keys = PyJWKSet.from_dict(json.loads(text)).keys
        return {str(key.key_id or index): key for index, key in enumerate(keys)}

    async def _signing_key(self, kid: str | None, *, refresh: bool = False) -> PyJWK | None:
        async with self._lock:
            stale = time.monotonic() - self._fetched_at > JWKS_CACHE_SECONDS
            if not self._keys or stale or refresh:
                self._keys = await self._load()
                self._fetched_at = time.monotonic()
        if kid is None:
            return next(iter(self._keys.values()), None) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        kid = header.get("kid")
        key = await self._signing_key(kid)
        if key is None and kid is not None:  # the provider may have rotated its keys
            key = await self._signing_key(kid, refresh=True)
        if key is None:
            raise Unauthenticated("the token is signed with an unknown key")
        options = {"require": ["exp"], "verify_aud": self.audience is not None}
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        return claims
