"""Authentication and isolation between users on the local server (real HTTP)."""

from __future__ import annotations

import json

import httpx
from conftest import User, load_operation
from server_gql import data, error_messages, operation, upsert


def test_missing_and_wrong_keys_get_401(user: User) -> None:
    body = {"query": operation("viewer_id")}
    no_auth = httpx.post(user.server.url + "/graphql", json=body, timeout=10)
    assert no_auth.status_code == 401
    assert "API key" in no_auth.json()["errors"][0]["message"]
    wrong = httpx.post(
        user.server.url + "/graphql", json=body, auth=("api", "local-" + "0" * 40), timeout=10
    )
    assert wrong.status_code == 401
    not_basic = httpx.post(
        user.server.url + "/graphql",
        json=body,
        headers={"Authorization": "Bearer " + user.api_key},
        timeout=10,
    )
    assert not_basic.status_code == 401
    with user.http() as client:
        assert client.post("/graphql", json=body).status_code == 200


def test_viewer_and_server_info(user: User) -> None:
    with user.http() as client:
        result = data(client, operation("viewer_full"))
    viewer = result["viewer"]
    assert viewer["name"] == viewer["username"] == viewer["entity"] == user.name
    assert viewer["id"]
    assert viewer["admin"] is False
    assert json.loads(viewer["flags"]) == {}
    assert viewer["deletedAt"] is None
    keys = [edge["node"] for edge in viewer["apiKeys"]["edges"]]
    assert len(keys) == 1
    assert keys[0]["name"].startswith("sha256:")
    assert user.api_key[6:] not in keys[0]["name"]
    teams = viewer["teams"]["edges"]
    assert [edge["node"]["name"] for edge in teams] == [user.name]
    assert teams[0]["node"]["isTeam"] is False
    info = result["serverInfo"]
    assert set(info["cliVersionInfo"]) == {"max_cli_version", "min_cli_version"}
    assert info["latestLocalVersionInfo"]["outOfDate"] is False
    assert all(not feature["isEnabled"] for feature in info["features"])


def test_viewer_is_the_caller(user: User, other_user: User) -> None:
    with user.http() as a, other_user.http() as b:
        assert data(a, load_operation("get_viewer"))["viewer"]["name"] == user.name
        assert data(b, load_operation("get_viewer"))["viewer"]["name"] == other_user.name


def test_other_users_projects_and_runs_read_as_null(user: User, other_user: User) -> None:
    with user.http() as mine, other_user.http() as theirs:
        upsert(mine, entityName=user.entity, modelName="secret", name="run1")
        variables = {"entity": user.entity, "project": "secret", "run": "run1"}
        own = data(mine, operation("project_full"), variables)
        assert own["project"]["run"]["name"] == "run1"
        seen = data(theirs, operation("project_full"), variables)
        assert seen == {"project": None, "model": None, "entity": None}
        run = data(
            theirs,
            load_operation("get_run"),
            {"entity": user.entity, "project": "secret", "name": "run1"},
        )
        assert run["project"] is None


def test_other_user_cannot_write_or_delete(user: User, other_user: User) -> None:
    with user.http() as mine, other_user.http() as theirs:
        created = upsert(mine, entityName=user.entity, modelName="p", name="r1", notes="mine")
        run_id = created["bucket"]["id"]
        # Writing into another entity is refused as not found.
        messages = error_messages(
            theirs,
            load_operation("upsert_run"),
            {"input": {"entityName": user.entity, "modelName": "p", "name": "r1", "notes": "x"}},
        )
        assert "not found" in messages[0]
        # The storage id of someone else's run names no run for this caller.
        messages = error_messages(
            theirs, load_operation("upsert_run"), {"input": {"id": run_id, "notes": "x"}}
        )
        assert "not found" in messages[0]
        messages = error_messages(theirs, load_operation("delete_run"), {"input": {"id": run_id}})
        assert "not found" in messages[0]
        # Nothing changed, nothing was created on either side.
        run = data(
            mine, load_operation("get_run"), {"entity": user.entity, "project": "p", "name": "r1"}
        )
        assert run["project"]["run"]["notes"] == "mine"
        mine_theirs = data(
            theirs,
            load_operation("count_runs"),
            {"entity": other_user.entity, "project": "p", "filters": None},
        )
        assert mine_theirs["project"] is None


def test_other_user_cannot_use_or_create_artifacts(user: User, other_user: User) -> None:
    with user.http() as mine, other_user.http() as theirs:
        upsert(mine, entityName=user.entity, modelName="p", name="r1")
        upsert(theirs, entityName=other_user.entity, modelName="p", name="r2")
        artifact = data(
            mine,
            load_operation("create_artifact"),
            {
                "input": {
                    "entityName": user.entity,
                    "projectName": "p",
                    "runName": "r1",
                    "artifactTypeName": "dataset",
                    "artifactCollectionNames": ["data"],
                    "digestAlgorithm": "MANIFEST_MD5",
                    "digest": "abc",
                }
            },
        )["createArtifact"]["artifact"]
        messages = error_messages(
            theirs,
            load_operation("use_artifact"),
            {
                "input": {
                    "entityName": other_user.entity,
                    "projectName": "p",
                    "runName": "r2",
                    "artifactID": artifact["id"],
                }
            },
        )
        assert "not found" in messages[0]
        messages = error_messages(
            theirs,
            load_operation("create_artifact"),
            {
                "input": {
                    "entityName": user.entity,
                    "projectName": "p",
                    "artifactTypeName": "dataset",
                    "artifactCollectionNames": ["data"],
                    "digestAlgorithm": "MANIFEST_MD5",
                    "digest": "other",
                }
            },
        )
        assert "not found" in messages[0]
        used = data(
            theirs,
            load_operation("list_used_artifacts"),
            {"entity": other_user.entity, "project": "p", "name": "r2"},
        )
        assert used["project"]["run"]["inputArtifacts"]["totalCount"] == 0
        # The owner's collection still has only its one version.
        details = data(
            mine,
            load_operation("get_project_artifact"),
            {"entity": user.entity, "project": "p", "name": "data:v1"},
        )
        assert details["project"]["artifact"] is None
