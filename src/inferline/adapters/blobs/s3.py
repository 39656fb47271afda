"""The scale-out blob store: a bucket of an S3-compatible server (AWS S3, MinIO, Ceph…),
through boto3. The client is thread-safe; each call is one request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from inferline.adapters.blobs.files import check_key
from inferline.ports.blobs import BlobNotFound, BlobStoreUnavailable

NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}


class S3BlobStore:
    """Blobs as objects `<prefix><key>` of one bucket, created at start when missing."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
        timeout_seconds: float = 10.0,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                connect_timeout=timeout_seconds,
                read_timeout=timeout_seconds,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=32,
            ),
        )

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def start(self) -> None:
        """Create the bucket unless it exists (connect step of the process)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in NOT_FOUND_CODES:
                raise
            self.client.create_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes) -> None:
        name = self._name(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=data)
        except Exception as exc:
            raise BlobStoreUnavailable(
                f"blob store s3://{self.bucket}: {exc}", retry_after=5.0
            ) from None

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        name = self._name(key)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=name)
            body: bytes = answer["Body"].read()
            return body
        except ClientError as exc:
            if _code(exc) in NOT_FOUND_CODES:
                raise BlobNotFound(f"blob {key!r} not found") from None
            raise BlobStoreUnavailable(f"blob store s3://{self.bucket}: {exc}") from None
        except Exception as exc:
            raise BlobStoreUnavailable(f"blob store s3://{self.bucket}: {exc}") from None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :]

    def check(self) -> None:
        """The bucket answers (a HEAD request)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise BlobStoreUnavailable(f"blob store s3://{self.bucket}: {exc}") from None


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
