"""`runapi serve --storage s3://bucket/prefix`: run files, history exports and deletes
against a local S3-protocol server (moto, see tests/bucket.py: it does NOT verify
signatures, so these tests prove the protocol, not that S3 accepts the signatures).

The bytes must go straight between client and bucket: upload and download URLs are the
bucket's pre-signed ones, every object is under the prefix, and nothing lands in the
server's data dir.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from bucket import SIGNING_KEY, BucketServer, Moto, bucket_server, moto
from conftest import User, _new_user, load_operation
from history_exports import parquet_urls
from seeding import close_apis, finish, log_history, make_api, new_run, steps

__all__ = ["close_apis", "moto"]


@pytest.fixture
def team(moto: Moto, tmp_path: Path) -> Iterator[BucketServer]:
    with bucket_server(moto, tmp_path / "data") as found:
        yield found


@pytest.fixture
def owner(team: BucketServer) -> User:
    return _new_user(team.server, "bucket")


def _files_on_disk(data_dir: Path) -> list[Path]:
    files = data_dir / "files"
    return [p for p in files.rglob("*") if p.is_file()] if files.exists() else []


def _md5(content: bytes) -> str:
    return base64.b64encode(hashlib.md5(content).digest()).decode()


def test_run_files_go_to_the_bucket_and_back(team: BucketServer, owner: User, tmp_path: Path):
    api = make_api(owner)
    run = new_run(api, owner)
    source = tmp_path / "out" / "report.txt"
    source.parent.mkdir()
    source.write_bytes(b"first version\n")
    run.upload_file(str(source), root=str(source.parent))

    (listed,) = list(run.files())
    assert (listed.name, listed.size, listed.md5) == ("report.txt", 14, _md5(b"first version\n"))
    assert listed.read_bytes() == b"first version\n"
    direct = listed.direct_url
    assert direct.startswith(f"{team.moto.endpoint}/{team.bucket}/team/files/")
    assert "X-Amz-Signature=" in direct
    assert httpx.get(direct).content == b"first version\n"  # no server in between
    # The Basic-auth route streams the object through the server.
    with owner.http() as client:
        via_server = client.get(f"/storage/files/{owner.entity}/proj/{run.id}/report.txt")
    assert via_server.status_code == 200
    assert via_server.content == b"first version\n"
    (first_key,) = team.objects()
    assert first_key.startswith("team/files/")

    source.write_bytes(b"second, longer version\n")
    run.upload_file(str(source), root=str(source.parent))
    (replaced,) = list(run.files())
    assert replaced.read_bytes() == b"second, longer version\n"
    assert replaced.size == 23
    (second_key,) = team.objects()  # the replaced object is deleted
    assert second_key != first_key
    assert _files_on_disk(team.server.data_dir) == []

    run.delete()
    assert team.objects() == []


def test_an_upload_url_never_used_lists_nothing(team: BucketServer, owner: User):
    api = make_api(owner)
    run = new_run(api, owner)
    variables = {
        "input": {
            "entityName": owner.entity,
            "projectName": "proj",
            "runName": run.id,
            "files": ["a.bin"],
        }
    }
    with owner.http() as client:
        body = {"query": load_operation("create_run_files"), "variables": variables}
        data = client.post("/graphql", json=body).json()
    assert not data.get("errors"), data
    (node,) = data["data"]["createRunFiles"]["files"]
    assert node["uploadUrl"].startswith(f"{team.moto.endpoint}/{team.bucket}/team/files/")
    assert list(run.files()) == []
    assert team.objects() == []
    # Uploaded now: listed with the bucket's size and MD5.
    assert httpx.put(node["uploadUrl"], content=b"abc").status_code == 200
    (listed,) = list(make_api(owner).run(f"{owner.entity}/proj/{run.id}").files())
    assert (listed.name, listed.size, listed.md5) == ("a.bin", 3, _md5(b"abc"))


def test_history_exports_are_read_from_the_bucket(team: BucketServer, owner: User):
    api = make_api(owner)
    run = new_run(api, owner)
    rows = steps(25_000)
    log_history(owner, run, rows, chunk=5000)
    finish(owner, run)

    urls = parquet_urls(owner, run)
    assert urls and all(u.startswith(f"{team.moto.endpoint}/{team.bucket}/team/") for u in urls)
    frame = make_api(owner).run(f"{owner.entity}/proj/{run.id}").scan_history().to_pandas()
    assert frame["_step"].tolist() == list(range(25_000))
    assert frame["loss"].tolist() == [r["loss"] for r in rows]
    # Each URL is an object of the bucket (merged-away parts stay until orphan removal).
    exported = [k for k in team.objects() if k.startswith("team/files/history-exports/")]
    assert {urlsplit(u).path.removeprefix(f"/{team.bucket}/") for u in urls} <= set(exported)
    assert _files_on_disk(team.server.data_dir) == []

    run.delete()
    assert team.objects() == []


def _serve(data_dir: Path, env: dict[str, str], *args: str, block_boto3: bool = False):
    code = "import sys; sys.modules['boto3'] = None\n" if block_boto3 else ""
    code += "from runapi_cli.main import main; sys.exit(main(sys.argv[1:]))"
    if not block_boto3:
        code = "import sys\n" + code
    return subprocess.run(
        [sys.executable, "-c", code, "serve", "--port", "0", "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_a_bucket_without_boto3_or_a_signing_key(moto: Moto, tmp_path: Path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "RUNAPI_SIGNING_KEY"}
    bucket = moto.new_bucket()
    no_boto = _serve(tmp_path / "a", env, "--storage", f"s3://{bucket}", block_boto3=True)
    assert no_boto.returncode != 0
    assert "pip install 'runapi[s3]'" in no_boto.stderr

    no_key = _serve(tmp_path / "b", env, "--storage", f"s3://{bucket}/p")
    assert no_key.returncode != 0
    assert "--signing-key-file or RUNAPI_SIGNING_KEY" in no_key.stderr

    missing = _serve(
        tmp_path / "c",
        {**env, "RUNAPI_SIGNING_KEY": SIGNING_KEY},
        "--storage",
        "s3://no-such-bucket-x",
    )
    assert missing.returncode != 0
    assert "cannot use bucket s3://no-such-bucket-x" in missing.stderr
    assert moto.keys(bucket) == []
