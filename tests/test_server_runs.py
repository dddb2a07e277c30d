"""Runs on the local server over real HTTP: upsertBucket, run fields, projects, deleteRun."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
from conftest import User, load_operation
from databases import read
from server_gql import data, error_messages, operation, upsert, wrapped


def get_run(client: httpx.Client, user: User, project: str, name: str) -> Any:
    result = data(
        client, load_operation("get_run"), {"entity": user.entity, "project": project, "name": name}
    )
    return result["project"]["run"] if result["project"] else None


def run_details(
    client: httpx.Client, user: User, project: str, name: str, keys: list[str] | None = None
) -> Any:
    variables = {"entity": user.entity, "project": project, "name": name, "keys": keys}
    return data(client, operation("run_details"), variables)["project"]["run"]


def count_runs(client: httpx.Client, user: User, project: str) -> int | None:
    result = data(
        client,
        load_operation("count_runs"),
        {"entity": user.entity, "project": project, "filters": None},
    )
    return result["project"]["runCount"] if result["project"] else None


def test_create_run_with_generated_id_and_defaults(user: User) -> None:
    with user.http() as client:
        payload = upsert(client, modelName="gen")
        assert payload["inserted"] is True
        run = payload["bucket"]
        assert re.fullmatch(r"[a-z0-9]{8}", run["name"])
        assert run["displayName"]
        assert run["state"] == "running"
        assert run["project"] == {"name": "gen", "entityName": user.entity}
        assert run["user"]["name"] == user.name
        assert json.loads(run["config"]) == {}
        assert json.loads(run["summaryMetrics"]) == {}
        assert run["tags"] == []
        decoded = base64.b64decode(run["id"]).decode()
        assert decoded == f"Run:v1:{run['name']}:gen:{user.entity}"
        assert run["createdAt"] == run["updatedAt"] == run["heartbeatAt"]
        assert "+" not in run["createdAt"] and not run["createdAt"].endswith("Z")
        second = upsert(client, modelName="gen")["bucket"]
        assert second["name"] != run["name"]
        assert second["displayName"] != run["displayName"]


def test_default_project_is_uncategorized(user: User) -> None:
    with user.http() as client:
        run = upsert(client, name="lone")["bucket"]
        assert run["project"]["name"] == "uncategorized"


def test_update_leaves_unsent_fields_and_replaces_config_and_summary(user: User) -> None:
    with user.http() as client:
        first = upsert(
            client,
            entityName=user.entity,
            modelName="p",
            name="r1",
            displayName="first",
            notes="n1",
            groupName="g",
            jobType="train",
            config=wrapped({"lr": 0.1, "layers": 3}),
            summaryMetrics=json.dumps({"loss": 1.0, "acc": 0.5}),
            tags=["a", "b", "a"],
            host="box",
            commit="abc123",
        )
        assert first["inserted"] is True
        assert first["bucket"]["tags"] == ["a", "b"]
        second = upsert(
            client,
            entityName=user.entity,
            modelName="p",
            name="r1",
            config=wrapped({"lr": 0.2}),
            summaryMetrics=json.dumps({"loss": 0.5}),
            state="finished",
            notes=None,  # explicit null leaves the field unchanged too
        )
        assert second["inserted"] is False
        run = second["bucket"]
        assert run["name"] == "r1"
        assert run["displayName"] == "first"
        assert run["notes"] == "n1"
        assert run["group"] == "g"
        assert run["jobType"] == "train"
        assert run["host"] == "box"
        assert run["commit"] == "abc123"
        assert run["tags"] == ["a", "b"]
        assert run["state"] == "finished"
        assert json.loads(run["config"]) == {"lr": {"value": 0.2, "desc": None}}
        assert json.loads(run["summaryMetrics"]) == {"loss": 0.5}
        assert run["updatedAt"] > first["bucket"]["updatedAt"]
        assert run["heartbeatAt"] > first["bucket"]["heartbeatAt"]
        assert run["createdAt"] == first["bucket"]["createdAt"]
        assert count_runs(client, user, "p") == 1


def test_unwrapped_config_values_are_stored_wrapped(user: User) -> None:
    with user.http() as client:
        run = upsert(client, modelName="p", name="r", config=json.dumps({"lr": 0.1}))["bucket"]
        assert json.loads(run["config"]) == {"lr": {"value": 0.1, "desc": None}}


def test_update_by_storage_id(user: User) -> None:
    with user.http() as client:
        created = upsert(client, modelName="p", name="byid")["bucket"]
        updated = upsert(client, id=created["id"], tags=["x"], displayName="renamed")
        assert updated["inserted"] is False
        assert updated["bucket"]["name"] == "byid"
        assert updated["bucket"]["tags"] == ["x"]
        assert updated["bucket"]["displayName"] == "renamed"


def test_unknown_storage_id_is_an_error_and_creates_nothing(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="p", name="exists")
        missing = base64.b64encode(f"Run:v1:nope:p:{user.entity}".encode()).decode()
        for bad_id in (missing, "not-base64!"):
            messages = error_messages(
                client, load_operation("upsert_run"), {"input": {"id": bad_id, "notes": "x"}}
            )
            assert "not found" in messages[0]
        assert count_runs(client, user, "p") == 1
        assert get_run(client, user, "p", "nope") is None


def test_bad_inputs_change_nothing(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="p", name="r", notes="keep", config=wrapped({"a": 1}))
        before = get_run(client, user, "p", "r")
        bad_inputs: list[tuple[dict[str, Any], str]] = [
            ({"config": "{not json", "notes": "changed"}, "malformed JSONString"),
            ({"config": "[1, 2]", "notes": "changed"}, "config must be a JSON object"),
            ({"summaryMetrics": "3", "notes": "changed"}, "summaryMetrics must be a JSON object"),
            ({"state": "exploded", "notes": "changed"}, "invalid run state"),
        ]
        for extra, message in bad_inputs:
            variables = {"input": {"modelName": "p", "name": "r", **extra}}
            messages = error_messages(client, load_operation("upsert_run"), variables)
            assert any(message in m for m in messages), messages
        assert get_run(client, user, "p", "r") == before
        # A bad first write creates neither the run nor the project.
        messages = error_messages(
            client,
            load_operation("upsert_run"),
            {"input": {"modelName": "fresh", "name": "r", "state": "exploded"}},
        )
        assert "invalid run state" in messages[0]
        assert count_runs(client, user, "fresh") is None
        for bad_name in ("a/b", "x:y", ""):
            messages = error_messages(
                client,
                load_operation("upsert_run"),
                {"input": {"modelName": "p", "name": bad_name}},
            )
            assert "invalid run id" in messages[0]
        assert count_runs(client, user, "p") == 1


def test_every_run_state_is_accepted(user: User) -> None:
    states = ["running", "pending", "finished", "failed", "crashed", "killed", "preempted"]
    with user.http() as client:
        for state in [*states, "preempting"]:
            run = upsert(client, modelName="p", name="r", state=state)["bucket"]
            assert run["state"] == state


def test_run_detail_fields(user: User) -> None:
    config: dict[str, Any] = {
        "lr": {"value": 0.1, "desc": "rate"},
        "opt": {"value": {"name": "adam"}, "desc": None},
        "_wandb": {"value": {"t": {"1": [1, 5]}, "cli_version": "0.21.4"}, "desc": None},
    }
    with user.http() as client:
        upsert(
            client,
            modelName="p",
            name="r",
            config=json.dumps(config),
            summaryMetrics=json.dumps({"loss": 0.25, "acc": 0.9}),
            sweep="sw1",
        )
        run = run_details(client, user, "p", "r")
        assert json.loads(run["config"]) == config
        assert json.loads(run["wandbConfig"]) == config["_wandb"]["value"]
        assert json.loads(run["systemMetrics"]) == {}
        assert run["sweepName"] == "sw1"
        assert run["sweep"] is None
        assert run["readOnly"] is False
        assert run["computeSeconds"] == 0
        assert run["projectId"] == int(run["project"]["internalId"])
        assert run["user"]["name"] == user.name
        keyed = run_details(client, user, "p", "r", keys=["lr", "acc", "t", "missing"])
        assert json.loads(keyed["config"]) == {"lr": config["lr"]}
        assert json.loads(keyed["summaryMetrics"]) == {"acc": 0.9}
        assert json.loads(keyed["wandbConfig"]) == {"t": {"1": [1, 5]}}


def test_project_fields(user: User) -> None:
    with user.http() as client:
        upsert(client, modelName="proj", name="r1")
        variables: dict[str, Any] = {"entity": user.entity, "project": "proj", "run": "r1"}
        result = data(client, operation("project_full"), variables)
        project = result["project"]
        decoded = base64.b64decode(project["id"]).decode()
        assert decoded == f"Project:v1:proj:{user.entity}"
        assert int(project["internalId"]) > 0
        assert project["name"] == "proj"
        assert project["entityName"] == user.entity
        assert project["entity"]["name"] == user.entity
        assert project["entity"]["isTeam"] is False
        assert project["entity"]["project"] == {"name": "proj"}
        assert project["isBenchmark"] is False
        assert project["readOnly"] is False
        assert json.loads(project["views"]) == {}
        assert project["user"]["name"] == user.name
        assert project["run"] == project["bucket"] == {"name": "r1"}
        assert project["runCount"] == 1
        assert project["sweep"] is None
        assert project["createdAt"]
        assert result["model"] == {"name": "proj"}
        assert result["entity"]["project"] == {"name": "proj"}
        # The entity defaults to the caller's; a missing run or project is null.
        variables = {"entity": None, "project": "proj", "run": "nope"}
        result = data(client, operation("project_full"), variables)
        assert result["project"]["name"] == "proj"
        assert result["project"]["run"] is None
        variables = {"entity": user.entity, "project": "missing", "run": "r1"}
        assert data(client, operation("project_full"), variables)["project"] is None


def _run_db_id(user: User, project: str, name: str) -> int:
    row = (
        read(user.server.data_dir)
        .execute(
            "SELECT runs.id FROM runs JOIN projects ON projects.id = runs.project_id"
            " WHERE projects.entity = ? AND projects.name = ? AND runs.name = ?",
            (user.entity, project, name),
        )
        .one()
    )
    run_id: int = row[0]
    return run_id


def test_delete_run_removes_it_and_its_files(user: User) -> None:
    with user.http() as client:
        run = upsert(client, modelName="p", name="doomed")["bucket"]
        upsert(client, modelName="p", name="keeper")
        files_dir = user.server.data_dir / "files" / str(_run_db_id(user, "p", "doomed"))
        files_dir.mkdir(parents=True, exist_ok=True)
        (files_dir / "blob.bin").write_bytes(b"x")
        result = data(
            client,
            load_operation("delete_run"),
            {"input": {"id": run["id"], "clientMutationId": "c"}},
        )
        assert result["deleteRun"] == {"clientMutationId": "c"}
        assert get_run(client, user, "p", "doomed") is None
        assert get_run(client, user, "p", "keeper") is not None
        assert not files_dir.exists()
        assert count_runs(client, user, "p") == 1
        messages = error_messages(
            client, load_operation("delete_run"), {"input": {"id": run["id"]}}
        )
        assert "not found" in messages[0]
        # Re-creating the deleted run id starts from scratch.
        again = upsert(client, modelName="p", name="doomed")
        assert again["inserted"] is True
