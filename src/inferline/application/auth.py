"""Who is calling, and what they may do: API keys, identity-provider tokens, scopes,
per-key limits.

An API key is `il_<prefix>_<secret>`: the prefix (public, 8 characters) finds its
row, the whole key's keyed hash (HMAC-SHA256 with the server's secret, or SHA-256
without one; the key has 256 random bits either way) checks it. Only the hash is
stored; the key is shown once, when it is made.

A caller is a `Principal`: a tenant, scopes (`read`, `submit`, `admin`) and the
limits of its key. The HTTP edge (`api/auth.py`) asks `Authenticator` for it on
every request and decides the scope a route needs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from inferline.domain.errors import InvalidInput, NotFound, RateLimited, Unauthenticated
from inferline.domain.ids import new_job_id
from inferline.ports.auth import KeyStore, RateCounter, StoredKey, TokenVerifier
from inferline.ports.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)

SCOPES = ("read", "submit", "admin")
KEY_PREFIX = "il_"
_KEY_PATTERN = re.compile(r"^il_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
CACHE_SECONDS = 2.0
"""A verified key is trusted this long without reading its row again (a revocation
takes effect within this time)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    tenant: str
    scopes: frozenset[str]
    identity: str
    """The key's id, or `jwt:<subject>`: what limits are counted against (never secret)."""
    rate_limit: str | None = None
    max_concurrent_jobs: int | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


MAX_CONCURRENT_JOBS: ContextVar[int | None] = ContextVar("max_concurrent_jobs", default=None)
"""The calling key's bound on its tenant's unfinished jobs, set for the request by the
HTTP edge and read by the job use cases (whichever route submits)."""


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Known scope names only, at least one."""
    chosen = frozenset(s.strip() for s in scopes if s.strip())
    unknown = sorted(chosen - set(SCOPES))
    if unknown or not chosen:
        raise InvalidInput(
            f"scopes must be some of {', '.join(SCOPES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    return chosen


def check_tenant(tenant: str) -> str:
    if not TENANT_PATTERN.match(tenant):
        raise InvalidInput(
            f"invalid tenant {tenant!r}: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return tenant


def check_rate_limit(value: str | None) -> str | None:
    """`10/second`, `600/minute`, `5 per second`: what the `limits` package parses."""
    if value is None:
        return None
    if not re.match(r"^\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?\s*$", value):
        raise InvalidInput(f"invalid rate limit {value!r}: write it as 10/second or 600/minute")
    return value.strip()


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: `secret` is the whole key, shown once."""

    secret: str
    stored: StoredKey


class KeyService:
    """Makes, lists, revokes and verifies API keys."""

    def __init__(
        self, store: KeyStore, *, secret: bytes | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.store = store
        self._secret = secret
        self.clock = clock
        self._cache: dict[str, tuple[float, StoredKey]] = {}

    def _digest(self, key: str, scheme: str) -> str | None:
        if scheme == "hmac-sha256":
            if self._secret is None:
                return None
            return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()
        if scheme == "sha256":
            return hashlib.sha256(key.encode()).hexdigest()
        return None

    async def create(
        self,
        tenant: str,
        scopes: Iterable[str],
        *,
        name: str | None = None,
        expires_at: float | None = None,
        rate_limit: str | None = None,
        max_concurrent_jobs: int | None = None,
    ) -> NewKey:
        """A new key for `tenant` with `scopes`; its secret is in the answer only."""
        now = self.clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("expires: the key would be expired already")
        if max_concurrent_jobs is not None and max_concurrent_jobs < 1:
            raise InvalidInput("max_concurrent_jobs must be at least 1")
        if name is not None and len(name) > 200:
            raise InvalidInput("name: at most 200 characters")
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
        key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        scheme = "hmac-sha256" if self._secret is not None else "sha256"
        digest = self._digest(key, scheme)
        assert digest is not None
        stored = StoredKey(
            id=new_job_id(),
            prefix=prefix,
            digest=digest,
            scheme=scheme,
            tenant=check_tenant(tenant),
            scopes=check_scopes(scopes),
            name=name,
            created_at=now,
            expires_at=expires_at,
            rate_limit=check_rate_limit(rate_limit),
            max_concurrent_jobs=max_concurrent_jobs,
        )
        await self.store.add_key(stored)
        return NewKey(key, stored)

    async def list(self, tenant: str | None) -> list[StoredKey]:
        return await self.store.list_keys(tenant)

    async def revoke(self, key_id: str, tenant: str | None) -> StoredKey:
        """Revoke a key of `tenant` (any tenant's with None); NotFound when there is none."""
        revoked = await self.store.revoke_key(key_id, tenant, self.clock.now())
        if revoked is None:
            raise NotFound(f"key {key_id!r} not found", details={"key": key_id})
        self._cache = {k: v for k, v in self._cache.items() if v[1].id != key_id}
        return revoked

    async def verify(self, key: str) -> StoredKey:
        """The stored key this secret is; Unauthenticated when it is unknown, wrong,
        expired or revoked (the message says which, never the key)."""
        match = _KEY_PATTERN.match(key)
        if match is None:
            raise Unauthenticated("invalid API key")
        now = self.clock.now()
        cache_key = hashlib.sha256(key.encode()).hexdigest()  # the key itself is not kept
        cached = self._cache.get(cache_key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            stored = cached[1]
        else:
            found = await self.store.key_by_prefix(match.group(1))
            digest = self._digest(key, found.scheme) if found is not None else None
            if found is None or digest is None or not hmac.compare_digest(digest, found.digest):
                raise Unauthenticated("invalid API key")
            stored = found
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[cache_key] = (now, stored)
        if stored.revoked_at is not None:
            raise Unauthenticated("the API key was revoked")
        if stored.expires_at is not None and stored.expires_at <= now:
            raise Unauthenticated("the API key has expired")
        return stored


@dataclass(frozen=True, slots=True)
class ClaimNames:
    """Where a token carries the tenant and the scopes."""

    tenant: str = "tenant"
    scopes: str = "scope"
    """A space-separated string (OAuth's `scope`) or a list."""


@dataclass
class Authenticator:
    """Credentials to principals; per-key request rates. Keys look like `il_…`; any
    other bearer credential is tried as a token when a verifier is configured."""

    keys: KeyService
    tokens: TokenVerifier | None = None
    claims: ClaimNames = field(default_factory=ClaimNames)
    rates: RateCounter | None = None
    default_rate_limit: str | None = None
    default_max_concurrent_jobs: int | None = None

    async def authenticate(self, credential: str | None) -> Principal:
        if not credential:
            raise Unauthenticated(
                "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
            )
        if credential.startswith(KEY_PREFIX):
            key = await self.keys.verify(credential)
            return Principal(
                tenant=key.tenant,
                scopes=key.scopes,
                identity=key.id,
                rate_limit=key.rate_limit or self.default_rate_limit,
                max_concurrent_jobs=key.max_concurrent_jobs or self.default_max_concurrent_jobs,
            )
        if self.tokens is None or credential.count(".") != 2:
            raise Unauthenticated("invalid API key")
        return self._from_claims(await self.tokens.verify(credential))

    def _from_claims(self, claims: Mapping[str, Any]) -> Principal:
        tenant = claims.get(self.claims.tenant)
        if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
            raise Unauthenticated(f"the token has no valid {self.claims.tenant!r} claim")
        raw = claims.get(self.claims.scopes, "")
        names = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
        scopes = frozenset(str(s) for s in names) & set(SCOPES)
        subject = str(claims.get("sub", "anonymous"))[:128]
        return Principal(
            tenant=tenant,
            scopes=scopes,
            identity=f"jwt:{tenant}:{subject}",
            rate_limit=self.default_rate_limit,
            max_concurrent_jobs=self.default_max_concurrent_jobs,
        )

    async def admit(self, principal: Principal) -> None:
        """Count the request against the principal's rate; RateLimited (with the seconds to
        wait) when it is over."""
        if self.rates is None or principal.rate_limit is None:
            return
        wait = await self.rates.hit(principal.rate_limit, principal.identity)
        if wait is not None:
            raise RateLimited(
                f"rate limit of this key exceeded ({principal.rate_limit})",
                retry_after=max(1.0, wait),
            )

    async def close(self) -> None:
        if self.rates is not None:
            await self.rates.close()


async def check_job_quota(
    tenant: str, adding: int, count_unfinished: Callable[[str], Awaitable[int]] | None
) -> None:
    """RateLimited when the calling key bounds its tenant's unfinished jobs and `adding`
    more would pass that bound (checked before the jobs are stored; concurrent submits
    may pass it by a few)."""
    limit = MAX_CONCURRENT_JOBS.get()
    if limit is None or count_unfinished is None:
        return
    unfinished = await count_unfinished(tenant)
    if unfinished + adding > limit:
        raise RateLimited(
            f"this key allows {limit} unfinished jobs at once; {unfinished} are queued or running",
            details={"max_concurrent_jobs": limit, "unfinished": unfinished},
            retry_after=1.0,
        )


def expiry(value: str, now: float | None = None) -> float:
    """`--expires`: a duration (`30d`, `12h`, `90m`) or an ISO date-time, as UNIX seconds."""
    from datetime import UTC, datetime

    now = time.time() if now is None else now
    match = re.fullmatch(r"(\d+)\s*([smhdw])", value.strip())
    if match:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
        return now + int(match.group(1)) * unit
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"invalid expiry {value!r}: a duration such as 30d or 12h, or an ISO date"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
