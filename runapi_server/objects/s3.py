"""An S3-compatible bucket as an :class:`runapi_server.objects.ObjectStore` (boto3, the
``s3`` extra), which also hands clients pre-signed URLs, so bytes go straight between
client and bucket.

``s3://bucket[/prefix]``: object names are ``<prefix>/<key>`` (keys as the database holds
them: ``files/12/ab34...``). The endpoint, region and credentials come from boto3's own
configuration (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, ``AWS_PROFILE``, ``~/.aws/config`` ...). Staging files are local
(``<data dir>/staging/``) and put to the bucket when placed.

```python
store = S3Store.of_url("s3://runapi/team", Path("data"))
store.presigned_get("files/12/ab34", 3600)  # https://...X-Amz-Signature=...
```
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from runapi_server.objects import Listed, check_key, remove_idle

SCHEME = "s3://"
INSTALL_HINT = "pip install 'runapi[s3]'"
CHUNK = 1024 * 1024
STAGING_DIR = "staging"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload"})


class BucketUnavailable(ValueError):
    """The bucket storage cannot be used (boto3 missing, a malformed URL, no bucket)."""


def is_bucket_url(spec: str) -> bool:
    return spec.startswith(SCHEME)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return _error_code(exc) in _MISSING or status == "404"


@dataclass(frozen=True)
class Head:
    """What a HEAD of an object says: its size and ETag (quotes removed; the hex MD5 of
    the bytes for an object put in one piece)."""

    size: int
    etag: str


def _client_error() -> type[Exception]:
    from botocore.exceptions import ClientError

    error: type[Exception] = ClientError
    return error


def _read_body(found: Any) -> bytes | None:
    """The whole body of a GetObject answer (None: no such object), its stream closed."""
    if found is None:
        return None
    body = found["Body"]
    try:
        data: bytes = body.read()
    finally:
        body.close()
    return data


class S3Store:
    """Objects in ``bucket`` under ``prefix``; constructing it does no I/O (the client is
    made on first use; :meth:`check` asks the bucket)."""

    def __init__(self, bucket: str, prefix: str, staging_dir: Path) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.staging_dir = staging_dir

    @classmethod
    def of_url(cls, url: str, data_dir: Path) -> S3Store:
        """The store of ``s3://bucket[/prefix]``; :class:`BucketUnavailable` when boto3 is
        not installed or the URL names no bucket."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise BucketUnavailable(f"not a bucket URL: {url!r} (use s3://bucket[/prefix])")
        try:
            import boto3  # noqa: F401
        except ImportError:
            raise BucketUnavailable(
                f"storage {url} is an S3 bucket, which needs boto3: {INSTALL_HINT}"
            ) from None
        return cls(parts.netloc, parts.path, data_dir / STAGING_DIR)

    @property
    def description(self) -> str:
        return f"{SCHEME}{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")

    @cached_property
    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", config=Config(signature_version="s3v4", retries={"mode": "standard"})
        )

    def name(self, key: str) -> str:
        """The bucket's object name of ``key``."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _key(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def check(self) -> None:
        """Ask the bucket (HEAD): :class:`BucketUnavailable` saying why it cannot be used."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise BucketUnavailable(f"cannot use bucket {self.description}: {exc}") from None

    # ------------------------------------------------------------------- ObjectStore

    def staging(self, key: str) -> Path:
        check_key(key)
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        return self.staging_dir / f".{secrets.token_hex(16)}.tmp"

    def place(self, tmp: Path, key: str, *, durable: bool = True) -> None:
        try:
            self.client.upload_file(str(tmp), self.bucket, self.name(key))
        finally:
            tmp.unlink(missing_ok=True)

    def head(self, key: str) -> Head | None:
        try:
            found = self.client.head_object(Bucket=self.bucket, Key=self.name(key))
        except _client_error() as exc:
            if _missing(exc):
                return None
            raise
        return Head(int(found["ContentLength"]), str(found.get("ETag", "")).strip('"'))

    def size(self, key: str) -> int | None:
        found = self.head(key)
        return None if found is None else found.size

    def _get(self, key: str, range_header: str | None) -> Any:
        options: dict[str, Any] = {"Bucket": self.bucket, "Key": self.name(key)}
        if range_header:
            options["Range"] = range_header
        try:
            return self.client.get_object(**options)
        except _client_error() as exc:
            if _missing(exc):
                return None
            raise

    def read_bytes(self, key: str) -> bytes | None:
        return _read_body(self._get(key, None))

    def tail(self, key: str, length: int) -> bytes | None:
        try:
            found = self._get(key, f"bytes=-{length}")
        except _client_error() as exc:  # an empty object has no byte range to give
            if _error_code(exc) == "InvalidRange":
                return b"" if self.head(key) is not None else None
            raise
        return _read_body(found)

    def open_range(
        self, key: str, start: int = 0, length: int | None = None
    ) -> Iterator[bytes] | None:
        if length == 0:
            return iter(()) if self.head(key) is not None else None
        if length is not None:
            wanted: str | None = f"bytes={start}-{start + length - 1}"
        else:
            wanted = f"bytes={start}-" if start else None
        found = self._get(key, wanted)
        if found is None:
            return None
        return _chunks(found["Body"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.name(key))

    def delete_prefix(self, prefix: str) -> None:
        names = [self.name(item.key) for item in self.listing(prefix)]
        for start in range(0, len(names), 1000):
            batch = [{"Key": name} for name in names[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def listing(self, prefix: str) -> Iterator[Listed]:
        paginator = self.client.get_paginator("list_objects_v2")
        name = self.name(prefix.rstrip("/")) + ("/" if prefix.endswith("/") else "")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=name):
            for item in page.get("Contents", []):
                yield Listed(self._key(item["Key"]), item["LastModified"].timestamp())

    def remove_stale_staging(self, idle_s: float) -> int:
        if not self.staging_dir.is_dir():
            return 0
        return remove_idle(self.staging_dir.glob(".*.tmp"), idle_s)

    def local_path(self, key: str) -> Path | None:
        return None

    # ------------------------------------------------------------------- pre-signed URLs

    def presigned_get(self, key: str, ttl: int, filename: str | None = None) -> str:
        """A GET URL of the object, valid ``ttl`` seconds; ``filename``: the download's
        name (``Content-Disposition: attachment``)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.name(key)}
        if filename is not None:
            params["ResponseContentDisposition"] = _disposition(filename)
        url: str = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)
        return url

    def presigned_put(self, key: str, ttl: int, content_md5: str | None = None) -> str:
        """A PUT URL of the object; ``content_md5`` (base64) is signed, so the client must
        send it as ``Content-MD5`` and the bucket refuses other bytes."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.name(key)}
        if content_md5 is not None:
            params["ContentMD5"] = content_md5
        url: str = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=ttl)
        return url

    def create_multipart(self, key: str) -> str:
        found = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.name(key))
        return str(found["UploadId"])

    def presigned_part(self, key: str, upload_id: str, part: int, ttl: int) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": self.name(key),
            "UploadId": upload_id,
            "PartNumber": part,
        }
        url: str = self.client.generate_presigned_url("upload_part", Params=params, ExpiresIn=ttl)
        return url

    def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        """Join the uploaded parts (number, ETag); raises botocore's ClientError when the
        bucket refuses (a missing part, a wrong ETag)."""
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.name(key),
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": n, "ETag": f'"{etag.strip(chr(34))}"'} for n, etag in parts
                ]
            },
        )

    def abort_uploads(self, key_prefix: str) -> int:
        """Abort the open multipart uploads of objects whose keys start with
        ``key_prefix``; how many."""
        name = self.name(key_prefix)
        aborted = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=name):
            for upload in page.get("Uploads", []):
                self.abort_multipart(self._key(upload["Key"]), upload["UploadId"])
                aborted += 1
        return aborted

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.name(key), UploadId=upload_id
            )
        except _client_error() as exc:
            if not _missing(exc):
                raise


def _disposition(filename: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()
