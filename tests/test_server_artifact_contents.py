"""Artifact contents on the server over raw HTTP: the whole write sequence, deduplicated
uploads, downloads (signed, fallbacks, ranges), multipart, bad inputs and isolation."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import httpx
from artifact_upload import (
    b64md5,
    commit,
    complete_operation,
    complete_variables,
    create,
    declare,
    declare_parts,
    log_version,
    manifest,
    stored_uploads,
    upload_manifest_and_commit,
)
from conftest import User
from server_gql import data, error_messages, operation, upsert

FILES = {
    "top.txt": b"hello\n",
    "nested/deeper/data.csv": b"a,b\n1,2\n",
    "empty.bin": b"",
    "naïve/größe-日本.txt": "non-ascii ✓".encode(),
}


def contents(client: httpx.Client, artifact_id: str) -> Any:
    return data(client, operation("artifact_contents"), {"id": artifact_id})["artifact"]


def test_two_versions_upload_only_the_changed_file_and_download_exactly(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="contents", name="writer")
        before = stored_uploads(user.server.data_dir)
        v0, puts0 = log_version(client, user, FILES, ["best"])
        changed = {**FILES, "top.txt": b"hello again\n"}
        v1, puts1 = log_version(client, user, changed)
        assert (puts0, puts1) == (4, 1)
        assert stored_uploads(user.server.data_dir) - before == 5
        for version, files in ((v0, FILES), (v1, changed)):
            read = contents(client, version["id"])
            assert read["state"] == "COMMITTED"
            assert read["fileCount"] == len(files)
            assert read["size"] == sum(map(len, files.values()))
            names = {edge["node"]["name"]: edge["node"] for edge in read["files"]["edges"]}
            assert set(names) == set(files)
            for name, node in names.items():
                assert node["displayName"] == name and node["md5"] == b64md5(files[name])
                assert node["sizeBytes"] == len(files[name])
                assert httpx.get(node["directUrl"]).content == files[name]  # no auth
                assert client.get(node["url"]).content == files[name]  # Basic auth fallback
            manifest_url = read["currentManifest"]["file"]["directUrl"]
            listed = httpx.get(manifest_url).json()["contents"]
            assert {path: entry["digest"] for path, entry in listed.items()} == {
                name: b64md5(content) for name, content in files.items()
            }
        assert {a["alias"] for a in contents(client, v0["id"])["aliases"]} == {"best"}
        assert {a["alias"] for a in contents(client, v1["id"])["aliases"]} == {"latest"}
        # The same contents again: deduplicated to the committed version, nothing uploaded.
        again, puts = log_version(client, user, changed)
        assert (again["id"], again["state"], puts) == (v1["id"], "COMMITTED", 0)


def test_dedup_to_an_older_version_keeps_latest_on_the_newest(user: User) -> None:
    first, second = {"a.txt": b"first"}, {"a.txt": b"second"}
    with user.http() as client:
        upsert(client, modelName="contents", name="writer")
        v0, _ = log_version(client, user, first, ["one"])
        v1, _ = log_version(client, user, second, ["two"])
        again, puts = log_version(client, user, first, ["again"])
        assert (again["id"], again["state"], puts) == (v0["id"], "COMMITTED", 0)
        aliases = {
            version["id"]: sorted(a["alias"] for a in contents(client, version["id"])["aliases"])
            for version in (v0, v1)
        }
        assert aliases == {v0["id"]: ["again", "one"], v1["id"]: ["latest", "two"]}
        # The newest version found again by digest keeps (and gets) `latest`.
        newest, puts = log_version(client, user, second, ["three"])
        assert (newest["id"], puts) == (v1["id"], 0)
        names = sorted(a["alias"] for a in contents(client, v1["id"])["aliases"])
        assert names == ["latest", "three", "two"]


def test_update_artifact_edits_description_metadata_ttl_tags_and_aliases(
    user: User, other_user: User
) -> None:
    with user.http() as client:
        upsert(client, modelName="contents", name="writer")
        v0, _ = log_version(client, user, {"a.txt": b"zero"}, ["best"])
        v1, _ = log_version(client, user, {"a.txt": b"one"}, ["candidate"])

        def update(**input: Any) -> Any:
            variables = {"input": {"artifactID": v0["id"], **input}}
            return data(client, operation("update_artifact"), variables)["updateArtifact"]

        def aliases(*names: str) -> list[dict[str, str]]:
            return [{"artifactCollectionName": "data", "alias": name} for name in names]

        edited = update(
            description="edited",
            metadata='{"k": [1, 2]}',
            ttlDurationSeconds=3600,
            tagsToAdd=[{"tagName": "t1"}, {"tagName": "t2"}],
            # `best` stays, `prod` is new and `candidate` moves here from v1.
            aliases=aliases("best", "prod", "candidate"),
        )["artifact"]
        assert edited["description"] == "edited"
        assert json.loads(edited["metadata"]) == {"k": [1, 2]}
        assert (edited["ttlDurationSeconds"], edited["ttlIsInherited"]) == (3600, False)
        assert [t["name"] for t in edited["tags"]] == ["t1", "t2"]
        assert sorted(a["alias"] for a in edited["aliases"]) == ["best", "candidate", "prod"]
        assert {a["alias"] for a in contents(client, v1["id"])["aliases"]} == {"latest"}
        # Left-out fields stay; an alias set without `best` removes it; tags come off.
        again = update(tagsToDelete=[{"tagName": "t1"}], aliases=aliases("prod"))["artifact"]
        assert again == edited | {"tags": [{"name": "t2"}], "aliases": [{"alias": "prod"}]}
        assert update()["artifact"] == again  # nothing given, nothing changes
        bad = [
            ({"ttlDurationSeconds": 0}, "ttlDurationSeconds must be"),
            ({"metadata": "[1]"}, "metadata must be a JSON object"),
            ({"aliases": aliases("v3")}, "reserved"),
            ({"tagsToAdd": [{"tagName": ""}]}, "must not be empty"),
        ]
        for input, expected in bad:
            variables = {"input": {"artifactID": v0["id"], **input}}
            messages = error_messages(client, operation("update_artifact"), variables)
            assert expected in messages[0], messages
        assert update()["artifact"] == again
    with other_user.http() as other:
        variables = {"input": {"artifactID": v0["id"], "description": "mine"}}
        messages = error_messages(other, operation("update_artifact"), variables)
        assert messages == [f"artifact {v0['id']!r} not found"]


def test_link_artifact_is_a_clear_error(user: User) -> None:
    with user.http() as client:
        variables = {"input": {"artifactID": "QXJ0aWZhY3Q6MQ==", "artifactPortfolioName": "p"}}
        messages = error_messages(client, operation("link_artifact"), variables)
    assert messages == [
        "linkArtifact: linking an artifact to a portfolio (registry) is not supported by"
        " this server"
    ]


def test_ranged_get_and_fallback_shapes(user: User) -> None:
    content = os.urandom(10_000)
    with user.http() as client:
        upsert(client, modelName="contents", name="writer")
        version, _ = log_version(client, user, {"big.bin": content})
        node = contents(client, version["id"])["files"]["edges"][0]["node"]
        ranged = httpx.get(node["directUrl"], headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206 and ranged.content == content[100:200]
        assert ranged.headers["content-range"] == "bytes 100-199/10000"
        tail = httpx.get(node["directUrl"], headers={"Range": "bytes=-10"})
        assert tail.content == content[-10:]
        assert httpx.get(node["directUrl"], headers={"Range": "bytes=20000-"}).status_code == 416
        hex_md5 = hashlib.md5(content).hexdigest()
        birth = version["id"]
        for path in (
            f"/artifacts/{user.entity}/{hex_md5}",
            f"/artifactsV2/default/{user.entity}/{birth}/{hex_md5}",
            f"/artifactsV2/default/{user.entity}/contents/data/{birth}/{hex_md5}/big.bin",
            f"/artifactsV2/default/{user.entity}/contents/data/{birth}/{birth}/{hex_md5}/big.bin",
        ):
            assert client.get(path).content == content, path
            assert httpx.get(user.server.url + path).status_code == 401


def test_wrong_md5_is_refused_and_nothing_is_stored(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="contents", name="writer")
        artifact = create(client, user, {"a.txt": b"right"})
        manifest(client, user, artifact["id"], "")
        (node,) = declare(client, artifact["id"], {"a.txt": b"right"})
        before = stored_uploads(user.server.data_dir)
        wrong = httpx.put(node["uploadUrl"], content=b"wrong")
        assert wrong.status_code == 400 and "MD5" in wrong.text
        assert stored_uploads(user.server.data_dir) == before
        tampered = httpx.put(
            node["uploadUrl"].replace("signature=", "signature=0"), content=b"right"
        )
        assert tampered.status_code == 403
        # Committing before the manifest (and the file) arrived is refused.
        messages = error_messages(
            client, operation_text("commit_artifact"), {"input": {"artifactID": artifact["id"]}}
        )
        assert "manifest was never uploaded" in messages[0]


def operation_text(name: str) -> str:
    from conftest import load_operation

    return load_operation(name)


def test_commit_checks_uploads_and_is_idempotent(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="contents", name="writer")
        files = {"x.txt": b"x" * 10}
        artifact = create(client, user, files)
        manifest(client, user, artifact["id"], "")
        declare(client, artifact["id"], files)
        body = (
            b'{"version": 1, "storagePolicy": "wandb-storage-policy-v1", "contents":'
            b' {"x.txt": {"digest": "' + b64md5(files["x.txt"]).encode() + b'", "size": 10}}}'
        )
        record = manifest(client, user, artifact["id"], b64md5(body))
        assert httpx.put(record["file"]["uploadUrl"], content=body).status_code == 200
        messages = error_messages(
            client, operation_text("commit_artifact"), {"input": {"artifactID": artifact["id"]}}
        )
        assert "was never uploaded" in messages[0]
        (node,) = declare(client, artifact["id"], files)
        assert httpx.put(node["uploadUrl"], content=files["x.txt"]).status_code == 200
        first = commit(client, artifact["id"])
        second = commit(client, artifact["id"])
        assert first == second and first["state"] == "COMMITTED"
        messages = error_messages(
            client,
            operation("create_artifact_files"),
            {
                "input": {
                    "storageLayout": "V2",
                    "artifactFiles": [
                        {"artifactID": artifact["id"], "name": "y", "md5": b64md5(b"y")}
                    ],
                }
            },
        )
        assert "already committed" in messages[0]


def test_bad_inputs_are_clear_errors(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="contents", name="writer")
        artifact = create(client, user, {"a": b"a"})
        cases = [
            ({"artifactID": "QXJ0aWZhY3Q6OTk5OTk=", "name": "a", "md5": b64md5(b"a")}, "not found"),
            ({"artifactID": "garbage", "name": "a", "md5": b64md5(b"a")}, "not found"),
            ({"artifactID": artifact["id"], "name": "../a", "md5": b64md5(b"a")}, "'..'"),
            ({"artifactID": artifact["id"], "name": "a", "md5": "nope"}, "not a base64 MD5"),
        ]
        for spec, expected in cases:
            messages = error_messages(
                client,
                operation("create_artifact_files"),
                {"input": {"storageLayout": "V2", "artifactFiles": [spec]}},
            )
            assert expected in messages[0], (spec, messages)
        unknown = error_messages(
            client, operation_text("commit_artifact"), {"input": {"artifactID": "QXJ0aWZhY3Q6OTk5"}}
        )
        assert "not found" in unknown[0]


def test_another_user_sees_nothing(user: User, other_user: User) -> None:
    content = b"secret bytes"
    with user.http() as client:
        upsert(client, modelName="contents", name="writer")
        version, _ = log_version(client, user, {"s.txt": content})
        node = contents(client, version["id"])["files"]["edges"][0]["node"]
    hex_md5 = hashlib.md5(content).hexdigest()
    with other_user.http() as other:
        assert contents(other, version["id"]) is None
        messages = error_messages(
            other, operation_text("commit_artifact"), {"input": {"artifactID": version["id"]}}
        )
        assert messages == [f"artifact {version['id']!r} not found"]
        assert other.get(f"/artifacts/{user.entity}/{hex_md5}").status_code == 404
        assert other.get(node["url"]).status_code == 404
        # Declaring the same bytes does not hand out the other user's stored blob.
        upsert(other, modelName="contents", name="writer")
        theirs = create(other, other_user, {"s.txt": content})
        (declared,) = declare(other, theirs["id"], {"s.txt": content})
        assert declared["uploadUrl"] is not None


def test_multipart_upload_in_small_parts(user: User) -> None:
    part_size = 5 * 1024 * 1024  # the server's default minimum part size
    content = os.urandom(part_size) + b"tail"
    parts = [content[:part_size], content[part_size:]]
    with user.http() as client:
        upsert(client, modelName="contents", name="writer")
        artifact = create(client, user, {"big.bin": content})
        manifest(client, user, artifact["id"], "")
        node = declare_parts(client, artifact["id"], "big.bin", content, parts)
        assert node["uploadUrl"] is None
        urls = node["uploadMultipartUrls"]["uploadUrlParts"]
        bad = httpx.put(urls[1]["uploadUrl"], content=b"wrong")
        assert bad.status_code == 400
        etags = [
            httpx.put(u["uploadUrl"], content=p).headers["ETag"]
            for u, p in zip(urls, parts, strict=True)
        ]
        assert etags == [f'"{hashlib.md5(p).hexdigest()}"' for p in parts]  # quoted, as S3
        wrong_order = complete_variables(artifact["id"], node, etags[::-1])
        messages = error_messages(client, complete_operation(), wrong_order)
        assert "do not match" in messages[0]
        # ETags come back quoted (S3, wandb-core) or bare, in any hex case.
        bare = [etag.strip('"').upper() for etag in etags]
        variables = complete_variables(artifact["id"], node, bare)
        completed = data(client, complete_operation(), variables)
        assert completed["completeMultipartUploadArtifact"]["digest"] == b64md5(content)
        committed = upload_manifest_and_commit(client, user, artifact["id"], {"big.bin": content})
        assert committed["state"] == "COMMITTED" and committed["size"] == len(content)
        node = contents(client, artifact["id"])["files"]["edges"][0]["node"]
        assert httpx.get(node["directUrl"]).content == content


def test_deleting_a_run_frees_only_unshared_blobs(user: User) -> None:
    blobs = user.server.data_dir / "files" / "artifacts"

    def stored() -> set[bytes]:
        return {p.read_bytes() for p in blobs.iterdir() if p.is_file()}

    with user.http() as client:
        run_a = upsert(client, modelName="contents", name="run-a")["bucket"]
        upsert(client, modelName="contents", name="run-b")
        log_version(client, user, {"shared.txt": b"shared", "a.txt": b"only a"}, run="run-a")
        v1, _ = log_version(client, user, {"shared.txt": b"shared", "b.txt": b"b"}, run="run-b")
        assert {b"shared", b"only a", b"b"} <= stored()
        delete = {"input": {"id": run_a["id"], "deleteArtifacts": True}}
        data(client, operation_text("delete_run"), delete)
        assert b"only a" not in stored() and {b"shared", b"b"} <= stored()
        node = contents(client, v1["id"])["files"]["edges"]
        assert {httpx.get(e["node"]["directUrl"]).content for e in node} == {b"shared", b"b"}
