"""The embedded blob store: one file per key under a folder.

Writes go to a temporary file in the same folder, then `os.replace`: a reader never
sees half a blob, and a crash leaves at most a `.tmp-*` file, which `keys` skips.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from inferline.ports.blobs import BlobNotFound, BlobStoreUnavailable

KEY_PATTERN = re.compile(r"^[A-Za-z0-9%._-]+(/[A-Za-z0-9%._-]+)*$")


def check_key(key: str) -> str:
    """A key as given, if it is a safe relative name (no `..`, no absolute path)."""
    if not KEY_PATTERN.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid blob key {key!r}")
    return key


class FileBlobStore:
    """Blobs as files under `root` (created on first use)."""

    kind = "file"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise BlobStoreUnavailable(_why(exc, self.root), retry_after=30.0) from None

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"blob {key!r} not found") from None
        except OSError as exc:
            raise BlobStoreUnavailable(_why(exc, self.root), retry_after=30.0) from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        for parent in path.parents:  # drop folders left empty, up to the root
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def keys(self, prefix: str) -> Iterator[str]:
        if not self.root.exists():
            return
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = Path(folder, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def check(self) -> None:
        """Write and remove a small file: catches a full disk and a read-only folder."""
        self.put(".check/probe", b"ok")
        self.delete(".check/probe")


def _why(exc: OSError, root: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"blob store {root}: no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"blob store {root}: not writable ({exc.strerror})"
    return f"blob store {root}: {exc.strerror or exc}"
