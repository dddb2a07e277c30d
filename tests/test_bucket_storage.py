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
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import artifact_upload
import httpx
import pytest
from bucket import SIGNING_KEY, BucketServer, Moto, bucket_server, moto
from conftest import User, _new_user, load_operation
from history_exports import parquet_urls
from seeding import close_apis, finish, log_history, make_api, new_run, steps
from test_artifact_contents import read_tree, write_tree

import runapi

__all__ = ["close_apis", "moto"]


@pytest.fixture
def team(moto: Moto, tmp_path: Path) -> Iterator[BucketServer]:
    with bucket_server(moto, tmp_path / "data") as found:
        yield found


@pytest.fixture
def owner(team: BucketServer) -> User:
    return _new_user(team.server, "bucket")


class RecordingTransport(httpx.BaseTransport):
    """The real transport, recording each request's method and origin."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append((request.method, f"http://{request.url.netloc.decode()}"))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()

    def puts(self, origin: str) -> int:
        return sum(1 for method, where in self.requests if method == "PUT" and where == origin)


def _files_on_disk(data_dir: Path) -> list[Path]:
    files = data_dir / "files"
    return [p for p in files.rglob("*") if p.is_file()] if files.exists() else []


def _md5(content: bytes) -> str:
    return base64.b64encode(hashlib.md5(content).digest()).decode()


def test_run_files_go_to_the_bucket_and_back(team: BucketServer, owner: User, tmp_path: Path):
    transport = RecordingTransport()
    api = make_api(owner, transport=transport)
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
    assert (transport.puts(team.moto.endpoint), transport.puts(team.server.url)) == (2, 0)
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


def test_artifacts_multipart_and_dedup_in_the_bucket(
    team: BucketServer, owner: User, tmp_path: Path
):
    transport = RecordingTransport()
    api = make_api(owner, transport=transport)
    run = new_run(api, owner)
    part = 5 << 20  # S3's smallest part (the last excepted)
    big = os.urandom(2 * part + 7)
    first = {"big.bin": big, "a/small.txt": b"small", "b.txt": b"bee"}
    spec = runapi.ArtifactSpec("data", "dataset")
    spec.add_dir(str(write_tree(tmp_path / "v0", first)))
    v0 = run.log_artifact(spec, multipart_threshold=part + 1, part_size=part)
    blobs = [k for k in team.objects() if k.startswith("team/files/artifacts/")]
    assert len(blobs) == 3
    assert not any("/.parts/" in k for k in team.objects())

    # A second version sharing two files stores (and uploads) one new blob.
    second = {**first, "b.txt": b"changed"}
    spec = runapi.ArtifactSpec("data", "dataset")
    spec.add_dir(str(write_tree(tmp_path / "v1", second)))
    v1 = run.log_artifact(spec, multipart_threshold=part + 1, part_size=part)
    assert len([k for k in team.objects() if k.startswith("team/files/artifacts/")]) == 4
    # 3 parts, 2 small files and a manifest, then 1 changed file and a manifest.
    assert (transport.puts(team.moto.endpoint), transport.puts(team.server.url)) == (8, 0)

    reader = make_api(owner)
    for version, files in ((v0, first), (v1, second)):
        found = reader.artifact(f"{owner.entity}/proj/data:{version.version}")
        assert read_tree(found.download(root=tmp_path / f"out-{version.version}")) == files
        direct = {f.name: f.direct_url for f in found.files()}
        assert all(
            u.startswith(f"{team.moto.endpoint}/{team.bucket}/team/") for u in direct.values()
        )
        assert httpx.get(direct["big.bin"]).content == big
    assert _files_on_disk(team.server.data_dir) == []

    run.delete(delete_artifacts=True)
    assert [k for k in team.objects() if k.startswith("team/files/artifacts/")] == []


def test_artifact_bytes_that_are_not_declared_are_refused(team: BucketServer, owner: User):
    files = {"a.txt": b"the declared bytes"}
    with owner.http() as client:
        artifact = artifact_upload.create(client, owner, files)
        artifact_upload.manifest(client, owner, artifact["id"], "")
        (node,) = artifact_upload.declare(client, artifact["id"], files)
        assert node["uploadUrl"].startswith(f"{team.moto.endpoint}/{team.bucket}/team/")
        headers = artifact_upload.headers_of(node["uploadHeaders"])
        assert headers["Content-MD5"] == artifact_upload.b64md5(files["a.txt"])
        # A real S3 refuses bytes whose MD5 is not the signed Content-MD5 (400 BadDigest);
        # moto checks neither signatures nor Content-MD5, so commit's own check is tested.
        wrong = b"the declared bytez"
        assert httpx.put(node["uploadUrl"], content=wrong, headers=headers).status_code == 200
        contents = {"a.txt": {"digest": artifact_upload.b64md5(files["a.txt"]), "size": 18}}
        body = json.dumps({"version": 1, "contents": contents}).encode()
        record = artifact_upload.manifest(client, owner, artifact["id"], "")
        assert record["file"]["uploadUrl"].startswith(f"{team.moto.endpoint}/{team.bucket}/")
        assert httpx.put(record["file"]["uploadUrl"], content=body).status_code == 200
        errors = gql_errors(client, artifact["id"])
        assert errors == [f"file 'a.txt': the uploaded bytes are not {contents['a.txt']['digest']}"]
        # The refused object is gone, the version still pending; the right bytes commit.
        assert not any(
            k.startswith("team/files/artifacts/") and "manifests" not in k for k in team.objects()
        )
        assert (
            httpx.put(node["uploadUrl"], content=files["a.txt"], headers=headers).status_code == 200
        )
        committed = artifact_upload.commit(client, artifact["id"])
    assert committed["state"] == "COMMITTED"
    assert not any("/manifests/" in k for k in team.objects())  # kept in the database


def gql_errors(client: httpx.Client, artifact_id: str) -> list[str]:
    variables = {"input": {"artifactID": artifact_id}}
    body = {"query": load_operation("commit_artifact"), "variables": variables}
    found = client.post("/graphql", json=body).json()
    return [error["message"] for error in found.get("errors") or []]


def test_an_unfinished_multipart_upload_is_aborted_with_its_artifact(
    team: BucketServer, owner: User
):
    run = new_run(make_api(owner), owner, project=artifact_upload.PROJECT)
    content = os.urandom(6 << 20)
    parts = [content[: 5 << 20], content[5 << 20 :]]
    with owner.http() as client:
        artifact = artifact_upload.create(client, owner, {"big.bin": content}, run=run.id)
        node = artifact_upload.declare_parts(client, artifact["id"], "big.bin", content, parts)
        first = node["uploadMultipartUrls"]["uploadUrlParts"][0]["uploadUrl"]
        assert first.startswith(f"{team.moto.endpoint}/{team.bucket}/team/files/artifacts/")
        # No whole-file Content-MD5 on parts: S3 would check it against each part.
        assert node["uploadHeaders"] == ["Content-Type:application/octet-stream"]
        assert httpx.put(first, content=parts[0]).status_code == 200
        # Part 2 never arrived: the bucket refuses to join, a clear error, nothing stored.
        etags = [hashlib.md5(p).hexdigest() for p in parts]
        variables = artifact_upload.complete_variables(artifact["id"], node, etags)
        body = {"query": artifact_upload.complete_operation(), "variables": variables}
        found = client.post("/graphql", json=body).json()
        (error,) = found["errors"]
        assert error["message"].startswith("the bucket refused to join the parts:")
    s3 = team.moto.client()
    assert len(s3.list_multipart_uploads(Bucket=team.bucket).get("Uploads", [])) == 1
    assert team.objects() == []
    run.delete(delete_artifacts=True)
    assert s3.list_multipart_uploads(Bucket=team.bucket).get("Uploads", []) == []
    assert team.objects() == []


def test_uploads_over_the_limit_are_deleted_not_listed(moto: Moto, tmp_path: Path):
    from runapi_server.limits import Limits

    with bucket_server(moto, tmp_path / "data", Limits(max_upload_bytes=200)) as team:
        owner = _new_user(team.server, "limited")
        run = new_run(make_api(owner), owner)
        source = tmp_path / "big.txt"
        source.write_bytes(b"x" * 300)
        # The bucket takes the bytes (a pre-signed PUT has no size limit); the server
        # deletes the object when it finds it, and lists nothing.
        with pytest.raises(runapi.RunFileNotFoundError, match=r"has no file 'big\.txt'"):
            run.upload_file(str(source), root=str(tmp_path))
        assert list(run.files()) == []
        files = {"a.txt": b"y" * 300}
        with owner.http() as client:
            artifact = artifact_upload.create(client, owner, files)
            (node,) = artifact_upload.declare(client, artifact["id"], files)
            headers = artifact_upload.headers_of(node["uploadHeaders"])
            assert httpx.put(node["uploadUrl"], content=files["a.txt"], headers=headers).is_success
            contents = {"a.txt": {"digest": artifact_upload.b64md5(files["a.txt"]), "size": 300}}
            record = artifact_upload.manifest(client, owner, artifact["id"], "")
            body = json.dumps({"version": 1, "contents": contents}).encode()
            assert httpx.put(record["file"]["uploadUrl"], content=body).is_success
            assert gql_errors(client, artifact["id"]) == [
                "file 'a.txt': upload is over the limit of 200 bytes"
            ]
        assert team.objects() == []
