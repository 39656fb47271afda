"""Authentication ports: where API keys are kept, how bearer tokens are verified, and
how request rates are counted.

`KeyStore` holds API keys by a short public prefix and a hash; never the key itself.
`TokenVerifier` turns a signed token from an identity provider (a JWT) into its
claims. `RateCounter` counts hits of a key in a moving window, in one process or
shared by several (Redis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An API key as stored: its public `prefix` finds it, `digest` checks it."""

    id: str
    prefix: str
    digest: str
    scheme: str
    """How `digest` was made: `hmac-sha256` (with the server's secret) or `sha256`."""
    tenant: str
    scopes: frozenset[str]
    name: str | None
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    rate_limit: str | None = None
    """Requests allowed, as the `limits` package writes it (`10/second`); None: the default."""
    max_concurrent_jobs: int | None = None
    """Unfinished jobs its tenant may have when it submits; None: the default."""


class KeyStore(Protocol):
    """API keys, by prefix; tenant-scoped listing and revocation."""

    async def start(self) -> None:
        """Connect (and bring the schema up to date)."""

    async def close(self) -> None:
        """Release connections."""

    async def add_key(self, key: StoredKey) -> None:
        """Store a new key."""

    async def key_by_prefix(self, prefix: str) -> StoredKey | None:
        """The key with this public prefix, revoked or not; None when there is none."""

    async def list_keys(self, tenant: str | None) -> list[StoredKey]:
        """Keys of a tenant (every tenant's with None), oldest first."""

    async def revoke_key(self, key_id: str, tenant: str | None, at: float) -> StoredKey | None:
        """Mark the key revoked (idempotent); None when the tenant has no such key."""


class TokenVerifier(Protocol):
    """Checks a bearer token's signature, issuer, audience and times."""

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims; raises `Unauthenticated` (naming why) when it is not valid."""


class RateCounter(Protocol):
    """Counts requests per identity against a limit such as `10/second`."""

    async def hit(self, limit: str, identity: str) -> float | None:
        """Count one request; None when it is allowed, else the seconds until it would be."""

    async def close(self) -> None:
        """Release the storage."""
