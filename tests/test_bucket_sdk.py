"""The real wandb SDK against `runapi serve --storage s3://bucket/prefix` (two processes
on one database and one bucket, a local S3-protocol server: moto, which does NOT verify
signatures; see tests/bucket.py).

The SDK (the pinned version and the latest, tests/sdk/venvs.py) logs a run with history
and files, and an artifact, through process A; `wandb.Api` and runapi read every row and
every byte back through process B. The bytes are in the bucket (listed with boto3) and
nowhere under the servers' data dir.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from bucket import Moto, moto
from conftest import Server
from databases import server_database_url
from test_sdk_logging import (
    VERSIONS,
    both,
    check_files,
    check_history,
    check_wandb_scan_history,
    expected,
)
from test_team_server import Logged, log_through_a_read_through_b, serve

__all__ = ["moto"]

KEY_HEX = secrets.token_hex(32)
PREFIX = "sdk"


@dataclass(frozen=True)
class BucketTeam:
    a: Server
    b: Server
    data_dir: Path
    bucket: str
    moto: Moto


@pytest.fixture(scope="module")
def team(moto: Moto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BucketTeam]:
    root = tmp_path_factory.mktemp("bucket-team")
    data_dir = root / "data"
    data_dir.mkdir()
    bucket = moto.new_bucket()
    storage = ["--storage", f"s3://{bucket}/{PREFIX}"]
    database = server_database_url()
    env = {**moto.env, "RUNAPI_SIGNING_KEY": KEY_HEX}
    with ExitStack() as stack:
        a = stack.enter_context(serve(data_dir, *storage, name="a", database=database, env=env))
        b = stack.enter_context(serve(data_dir, *storage, name="b", database=database, env=env))
        yield BucketTeam(a, b, data_dir, bucket, moto)


@pytest.fixture(scope="module", params=list(VERSIONS))
def logged(
    request: pytest.FixtureRequest, team: BucketTeam, tmp_path_factory: pytest.TempPathFactory
) -> Logged:
    return log_through_a_read_through_b(request.param, team.a, team.b, tmp_path_factory, "bucket")


def test_a_run_logged_into_a_bucket_reads_back(logged: Logged) -> None:
    read = logged.read
    assert both(read, "state") == "finished"
    check_history(read, range(expected.STEPS))
    check_wandb_scan_history(read)  # 0.31 reads the parquet exports from the bucket
    check_files(read)


def test_an_artifact_logged_into_a_bucket_downloads_byte_exact(logged: Logged) -> None:
    sent = {
        p.relative_to(logged.dataset).as_posix(): p.read_bytes()
        for p in logged.dataset.rglob("*")
        if p.is_file()
    }
    assert logged.downloaded["files"] == {name: len(data) for name, data in sent.items()}
    root = Path(logged.downloaded["root"])
    got = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert got == sent


def test_every_byte_is_in_the_bucket_and_none_in_the_data_dir(
    team: BucketTeam, logged: Logged
) -> None:
    keys = team.moto.keys(team.bucket)
    assert all(key.startswith(f"{PREFIX}/files/") for key in keys)
    kinds = {key.split("/")[2] for key in keys}
    assert {"artifacts", "history-exports"} <= kinds
    assert any(kind.isdigit() for kind in kinds)  # a run's files
    sizes = {len(p.read_bytes()) for p in logged.dataset.rglob("*") if p.is_file()}
    client = team.moto.client()
    stored = {
        item["Size"]
        for item in client.list_objects_v2(Bucket=team.bucket, Prefix=f"{PREFIX}/files/artifacts/")[
            "Contents"
        ]
    }
    assert sizes - {0} <= stored  # the artifact's files (the empty one too, if kept)
    stray = [
        p.relative_to(team.data_dir).as_posix()
        for p in team.data_dir.rglob("*")
        if p.is_file() and not p.name.startswith(("runapi.sqlite3", "database.url"))
    ]
    assert stray == []  # the database (or its URL) alone; no file bytes
