"""Artifacts on the local server over real HTTP: createArtifact, versions, aliases, digest
dedup, output and input edges, useArtifact, deleteRun(deleteArtifacts)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from conftest import User, load_operation
from server_gql import data, error_messages, operation, upsert


def create(client: httpx.Client, user: User, **fields: Any) -> Any:
    input = {
        "entityName": user.entity,
        "projectName": "p",
        "artifactTypeName": "dataset",
        "artifactCollectionNames": ["data"],
        "digestAlgorithm": "MANIFEST_MD5",
        **fields,
    }
    created = data(client, load_operation("create_artifact"), {"input": input})["createArtifact"][
        "artifact"
    ]
    if created["state"] != "PENDING":
        return created  # digest deduplication: the committed version
    return commit(client, created["id"])


def commit(client: httpx.Client, artifact_id: str) -> Any:
    """commitArtifact of a version without files (no manifest)."""
    variables = {"input": {"artifactID": artifact_id}}
    return data(client, load_operation("commit_artifact"), variables)["commitArtifact"]["artifact"]


def create_errors(client: httpx.Client, user: User, **fields: Any) -> list[str]:
    input = {
        "entityName": user.entity,
        "projectName": "p",
        "artifactTypeName": "dataset",
        "artifactCollectionNames": ["data"],
        "digestAlgorithm": "MANIFEST_MD5",
        "digest": "d-bad",
        **fields,
    }
    return error_messages(client, load_operation("create_artifact"), {"input": input})


def artifact(client: httpx.Client, user: User, name: str) -> Any:
    variables = {"entity": user.entity, "project": "p", "name": name}
    return data(client, operation("artifact_details"), variables)["project"]["artifact"]


def aliases(node: Any) -> set[str]:
    return {a["alias"] for a in node["aliases"]}


def logged(client: httpx.Client, user: User, run: str, **args: Any) -> Any:
    variables = {"entity": user.entity, "project": "p", "name": run, **args}
    result = data(client, load_operation("list_logged_artifacts"), variables)
    return result["project"]["run"]["outputArtifacts"]


def used(client: httpx.Client, user: User, run: str) -> Any:
    variables = {"entity": user.entity, "project": "p", "name": run}
    result = data(client, load_operation("list_used_artifacts"), variables)
    return result["project"]["run"]["inputArtifacts"]


def use(client: httpx.Client, user: User, run: str, artifact_id: str, used_as: str | None) -> Any:
    input = {
        "entityName": user.entity,
        "projectName": "p",
        "runName": run,
        "artifactID": artifact_id,
        "usedAs": used_as,
    }
    return data(client, load_operation("use_artifact"), {"input": input})["useArtifact"]["artifact"]


def test_versions_aliases_and_dedup(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="p", name="writer")
        v0 = create(
            client,
            user,
            runName="writer",
            digest="d0",
            description="first",
            metadata=json.dumps({"rows": 10}),
            aliases=[{"artifactCollectionName": "data", "alias": "best"}],
            tags=[{"tagName": "raw"}],
            historyStep=7,
        )
        assert v0["versionIndex"] == 0
        assert v0["state"] == "COMMITTED"
        assert v0["digest"] == "d0"
        assert v0["description"] == "first"
        assert json.loads(v0["metadata"]) == {"rows": 10}
        assert v0["historyStep"] == 7
        assert aliases(v0) == {"latest", "best"}
        assert [t["name"] for t in v0["tags"]] == ["raw"]
        assert v0["artifactType"]["name"] == "dataset"
        assert v0["artifactSequence"]["name"] == "data"
        assert v0["artifactSequence"]["project"] == {"name": "p", "entityName": user.entity}
        assert base64.b64decode(v0["id"]).decode().startswith("Artifact:")

        v1 = create(client, user, runName="writer", digest="d1")
        assert v1["versionIndex"] == 1
        assert aliases(v1) == {"latest"}
        assert aliases(artifact(client, user, "data:v0")) == {"best"}

        # The same digest in the same collection is the same version.
        again = create(
            client,
            user,
            runName="writer",
            digest="d0",
            aliases=[{"artifactCollectionName": "data", "alias": "gold"}],
        )
        assert again["id"] == v0["id"]
        assert again["versionIndex"] == 0
        assert aliases(again) == {"best", "gold"}
        assert artifact(client, user, "data:latest")["versionIndex"] == 1

        # Moving an alias takes it off the version that had it.
        create(
            client,
            user,
            digest="d1",
            aliases=[{"artifactCollectionName": "data", "alias": "best"}],
        )
        assert aliases(artifact(client, user, "data:v0")) == {"gold"}
        assert aliases(artifact(client, user, "data:v1")) == {"latest", "best"}

        # A different collection starts its own versions; same digest is no dedup there.
        other = create(
            client, user, digest="d0", artifactTypeName="model", artifactCollectionNames=["m"]
        )
        assert other["versionIndex"] == 0
        assert other["id"] != v0["id"]


def test_artifact_lookup_by_name_and_detail_fields(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="p", name="writer")
        create(client, user, runName="writer", digest="d0", tags=[{"tagName": "t1"}])
        create(
            client,
            user,
            runName="writer",
            digest="d1",
            ttlDurationSeconds=3600,
            aliases=[{"artifactCollectionName": "data", "alias": "prod"}],
        )
        assert artifact(client, user, "data:v0")["digest"] == "d0"
        assert artifact(client, user, "data:latest")["digest"] == "d1"
        assert artifact(client, user, "data:prod")["digest"] == "d1"
        assert artifact(client, user, "data")["digest"] == "d1"
        for missing in ("data:v7", "data:nope", "other:latest", "other"):
            assert artifact(client, user, missing) is None
        v0 = artifact(client, user, "data:v0")
        assert v0["commitHash"] == "d0"
        assert v0["ttlDurationSeconds"] == -1
        assert v0["ttlIsInherited"] is True
        assert v0["currentManifest"] is None
        assert v0["size"] == 0
        assert v0["fileCount"] == 0
        assert v0["metadata"] is None
        assert v0["tags"][0]["name"] == "t1" and v0["tags"][0]["id"]
        assert v0["artifactType"]["id"]
        sequence = v0["artifactSequence"]
        assert sequence["state"] == "READY"
        assert sequence["latestArtifact"] == {"versionIndex": 1, "digest": "d1"}
        v1 = artifact(client, user, "data:v1")
        assert v1["ttlDurationSeconds"] == 3600
        assert v1["ttlIsInherited"] is False
        alias = next(a for a in v1["aliases"] if a["alias"] == "prod")
        assert alias["artifactCollectionName"] == "data"
        collection = alias["artifactCollection"]
        assert collection["__typename"] == "ArtifactSequence"
        assert collection["name"] == "data"
        assert collection["id"] == sequence["id"]
        assert collection["project"] == {"name": "p"}
        assert collection["latestArtifact"] == {"versionIndex": 1}


def test_output_edges_and_pagination(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="p", name="writer")
        upsert(client, modelName="p", name="idle")
        for i in range(3):
            create(client, user, runName="writer", digest=f"d{i}")
        create(client, user, digest="orphan")  # no run: no output edge
        outputs = logged(client, user, "writer")
        assert outputs["totalCount"] == 3
        assert [e["node"]["versionIndex"] for e in outputs["edges"]] == [0, 1, 2]
        first = logged(client, user, "writer", first=2)
        assert [e["node"]["digest"] for e in first["edges"]] == ["d0", "d1"]
        assert first["pageInfo"]["hasNextPage"] is True
        rest = logged(client, user, "writer", first=2, after=first["pageInfo"]["endCursor"])
        assert [e["node"]["digest"] for e in rest["edges"]] == ["d2"]
        assert rest["pageInfo"]["hasNextPage"] is False
        assert logged(client, user, "idle")["totalCount"] == 0
        messages = error_messages(
            client,
            load_operation("list_logged_artifacts"),
            {"entity": user.entity, "project": "p", "name": "writer", "after": "bad-cursor"},
        )
        assert "invalid cursor" in messages[0]


def test_use_artifact_records_input_edges(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="p", name="writer")
        upsert(client, modelName="p", name="reader")
        v0 = create(client, user, runName="writer", digest="d0")
        v1 = create(client, user, runName="writer", digest="d1")
        returned = use(client, user, "reader", v0["id"], "train-data")
        assert returned["id"] == v0["id"]
        use(client, user, "reader", v0["id"], "eval-data")
        use(client, user, "reader", v0["id"], "train-data")
        use(client, user, "reader", v1["id"], None)
        inputs = used(client, user, "reader")
        assert inputs["totalCount"] == 2
        edges = inputs["edges"]
        assert [e["node"]["digest"] for e in edges] == ["d0", "d1"]
        assert edges[0]["usedAs"] == ["train-data", "eval-data"]
        assert edges[1]["usedAs"] == []
        assert used(client, user, "writer")["totalCount"] == 0
        assert logged(client, user, "reader")["totalCount"] == 0


def test_bad_artifact_inputs_change_nothing(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="p", name="writer")
        v0 = create(client, user, runName="writer", digest="d0")
        bad: list[tuple[dict[str, Any], str]] = [
            ({"artifactTypeName": "model"}, "has type 'dataset'"),
            ({"aliases": [{"artifactCollectionName": "data", "alias": "v3"}]}, "reserved"),
            ({"aliases": [{"artifactCollectionName": "zzz", "alias": "a"}]}, "names collection"),
            ({"artifactCollectionNames": []}, "artifactCollectionNames"),
            ({"artifactCollectionNames": ["a:b"]}, "invalid artifact collection name"),
            ({"metadata": "{oops"}, "malformed JSONString"),
            ({"metadata": "[1]"}, "metadata must be a JSON object"),
            ({"runName": "ghost"}, "not found"),
            ({"entityName": "somebody-else"}, "not found"),
        ]
        for fields, message in bad:
            messages = create_errors(client, user, **fields)
            assert any(message in m for m in messages), (fields, messages)
        assert logged(client, user, "writer")["totalCount"] == 1
        assert artifact(client, user, "data:v1") is None
        assert artifact(client, user, "data:latest")["id"] == v0["id"]
        bad_ids = [
            "garbage",
            base64.b64encode(b"Artifact:999999").decode(),
            base64.b64encode(b"Run:1").decode(),
        ]
        for bad_id in bad_ids:
            input = {
                "entityName": user.entity,
                "projectName": "p",
                "runName": "writer",
                "artifactID": bad_id,
            }
            messages = error_messages(client, load_operation("use_artifact"), {"input": input})
            assert "not found" in messages[0]
        input = {
            "entityName": user.entity,
            "projectName": "p",
            "runName": "ghost",
            "artifactID": v0["id"],
        }
        messages = error_messages(client, load_operation("use_artifact"), {"input": input})
        assert "not found" in messages[0]
        assert used(client, user, "writer")["totalCount"] == 0


def test_delete_run_with_and_without_artifacts(user: User) -> None:
    with user.http() as client:
        first = upsert(client, modelName="p", name="first")["bucket"]
        second = upsert(client, modelName="p", name="second")["bucket"]
        reader = upsert(client, modelName="p", name="reader")["bucket"]
        v0 = create(client, user, runName="first", digest="d0")
        v1 = create(client, user, runName="second", digest="d1")
        use(client, user, "reader", v1["id"], "x")
        data(
            client,
            load_operation("delete_run"),
            {"input": {"id": second["id"], "deleteArtifacts": True}},
        )
        assert artifact(client, user, "data:v1") is None
        assert artifact(client, user, "data:latest")["id"] == v0["id"]
        assert used(client, user, "reader")["totalCount"] == 0
        data(client, load_operation("delete_run"), {"input": {"id": first["id"]}})
        kept = artifact(client, user, "data:v0")
        assert kept["id"] == v0["id"]
        assert aliases(kept) == {"latest"}
        # Version numbers are never reused: v1 named the deleted version.
        assert create(client, user, digest="d2")["versionIndex"] == 2  # v1 is never reused
        assert reader["name"] == "reader"
