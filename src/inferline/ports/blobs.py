"""The blob store port: bytes kept outside the job row (an OCR job's upload), by key.

Synchronous on purpose: the filesystem and S3 clients are blocking, the model threads
read blobs directly, and the event loop calls it through `asyncio.to_thread`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from inferline.domain.errors import NotFound, Unavailable


class BlobNotFound(NotFound):
    """No blob under that key (never written, or removed with its job)."""


class BlobStoreUnavailable(Unavailable):
    """The store cannot take or give bytes now (disk full, unwritable, server down)."""


class BlobStore(Protocol):
    """Bytes by key. Keys are `/`-separated names of `[A-Za-z0-9%._-]` parts."""

    @property
    def kind(self) -> str:
        """`file` or `s3`, for readiness and the docs."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` (replacing it); BlobStoreUnavailable when it cannot."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under `key`; BlobNotFound when there are none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; a missing one is not an error."""
        ...

    def keys(self, prefix: str) -> Iterator[str]:
        """Every key that starts with `prefix`."""
        ...

    def check(self) -> None:
        """Raise BlobStoreUnavailable unless a blob can be written now (readiness)."""
        ...
