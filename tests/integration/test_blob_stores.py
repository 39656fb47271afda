"""The blob store contract on both adapters: a folder, and a real S3-compatible server
(moto's, on a free port of this machine; boto3 talks HTTP to it, nothing is patched)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferline.adapters.blobs.files import FileBlobStore
from inferline.adapters.blobs.s3 import S3BlobStore
from inferline.core.settings import Settings
from inferline.ports.blobs import BlobNotFound, BlobStore, BlobStoreUnavailable
from inferline.testing.server import free_port

KEY = "ocr/default/01890a5d-ac96-774b-bcce-b302099a8057/" + "cd" * 16


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:  # pragma: no cover - a dev dependency
        pytest.fail("moto[server] is not installed (pip install -e '.[dev]')")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> BlobStore:
    if request.param == "file":
        return FileBlobStore(tmp_path / "blobs")
    s3 = S3BlobStore(
        f"test-{os.urandom(4).hex()}",
        endpoint_url=s3_endpoint,
        access_key_id="test",
        secret_access_key="test",
        prefix="run1/",
    )
    s3.start()  # creates the bucket
    s3.start()  # and finds it the second time
    return s3


def test_the_contract(store: BlobStore) -> None:
    store.check()
    with pytest.raises(BlobNotFound):
        store.get(KEY)
    store.put(KEY, b"first")
    store.put(KEY, b"second")
    other = KEY.replace("cdcd", "efef")
    store.put(other, b"\x00" * 100_000)
    assert store.get(KEY) == b"second"
    assert len(store.get(other)) == 100_000
    assert sorted(store.keys("ocr/")) == sorted([KEY, other])
    assert list(store.keys("ocr/tenant-b/")) == []
    store.delete(KEY)
    store.delete(KEY)  # a missing blob is no error
    assert list(store.keys("ocr/")) == [other]
    with pytest.raises(ValueError, match="invalid blob key"):
        store.put("../escape", b"x")


def test_an_unwritable_folder_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the blob folder should be")
    store = FileBlobStore(blocker / "blobs")
    with pytest.raises(BlobStoreUnavailable, match="blob store"):
        store.check()
    with pytest.raises(BlobStoreUnavailable):
        store.put(KEY, b"x")


def test_a_stopped_s3_server_is_unavailable() -> None:
    store = S3BlobStore("gone", endpoint_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=1)
    with pytest.raises(BlobStoreUnavailable, match="s3://gone"):
        store.check()
    with pytest.raises(BlobStoreUnavailable):
        store.put(KEY, b"x")


def test_credentials_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("INFERLINE_S3_SECRET_ACCESS_KEY_FILE", str(secret))
    monkeypatch.setenv("INFERLINE_S3_ACCESS_KEY_ID", "key")
    settings = Settings(blob_store="s3")
    assert settings.s3_secret_access_key is not None
    assert settings.s3_secret_access_key.get_secret_value() == "s3cr3t"
    assert settings.s3_access_key_id is not None
    assert settings.s3_access_key_id.get_secret_value() == "key"
    assert "s3cr3t" not in repr(settings)
