"""A local S3-protocol server for the bucket-storage tests: moto's server mode
(``moto[server]``, ``ThreadedMotoServer``) on a free loopback port, one bucket per test.

moto speaks the S3 protocol (objects, multipart uploads, pre-signed URLs, Content-MD5
checks) but does NOT verify signatures: a pre-signed URL with a wrong or expired
signature is accepted. These tests prove the protocol runapi speaks to a bucket, not that
a real S3 accepts its signatures (boto3 makes those). Tests that need moto skip when it
is not installed (the installed-package check installs only ``.[server]``).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Server, _wait_until_up, free_port
from databases import use_test_database

SIGNING_KEY = "ab" * 32
_buckets = itertools.count()


@dataclass(frozen=True)
class Moto:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """boto3's configuration reaching this server (any credentials: none are checked)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "runapi-test",
            "AWS_SECRET_ACCESS_KEY": "runapi-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="runapi-test",
            aws_secret_access_key="runapi-test-secret",
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        name = f"runapi-test-{os.getpid()}-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        found = self.client().list_objects_v2(Bucket=bucket).get("Contents", [])
        return sorted(item["Key"] for item in found)


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    pytest.importorskip("boto3", reason="the bucket tests need boto3 (runapi[s3])")
    server_module = pytest.importorskip(
        "moto.server", reason="the bucket tests need a local S3 server: moto[server]"
    )
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    found = Moto(f"http://127.0.0.1:{port}")
    saved = {key: os.environ.get(key) for key in found.env}
    os.environ.update(found.env)  # the in-process servers' boto3 reads these
    try:
        yield found
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@dataclass(frozen=True)
class BucketServer:
    server: Server
    bucket: str
    moto: Moto

    @property
    def prefix(self) -> str:
        return "team"

    def objects(self) -> list[str]:
        return self.moto.keys(self.bucket)


@contextmanager
def bucket_server(moto: Moto, data_dir: Path, limits: Any = None) -> Iterator[BucketServer]:
    """The server app (in a uvicorn thread) on ``data_dir`` storing into a new bucket
    (``limits``: a :class:`runapi_server.limits.Limits`, default the defaults)."""
    import uvicorn

    from runapi_server.app import create_app

    bucket = moto.new_bucket()
    data_dir = use_test_database(data_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(
        data_dir,
        public_url=url,
        limits=limits,
        storage_url=f"s3://{bucket}/team",
        signing_key=bytes.fromhex(SIGNING_KEY),
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_until_up(url)
    try:
        yield BucketServer(Server(url=url, data_dir=data_dir), bucket, moto)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
