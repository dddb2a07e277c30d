"""Isolation: with user A's key, every path to user B's data is refused and reveals nothing.

Each path is compared with the same request for something that does not exist (a
"ghost" entity, run or artifact): the answers must be identical once the names are
swapped, and the database must be unchanged.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import User, load_operation
from hardening import db_digest, graphql, test_operation
from server_gql import data, upsert
from server_stream import PROJECT, create_run, stream
from test_server_files import create_files, nodes, upload

GHOST = "ghostentity"


@dataclass(frozen=True)
class Victim:
    """User B's data: a run with history, files and an artifact."""

    user: User
    run: str
    run_id: str  # storage id
    artifact_id: str
    file_url: str
    direct_url: str
    upload_url: str


@pytest.fixture
def victim(user: User) -> Victim:
    run = create_run(user)
    rows = [json.dumps({"_step": i, "loss": 1.0 / (i + 1)}) for i in range(5)]
    assert stream(user, run, {"wandb-history.jsonl": (0, rows)}).status_code == 200
    assert stream(user, run, {"output.log": (0, ["secret log"])}).status_code == 200
    upload(user, run, "secret.txt", b"top secret")
    with user.http() as client:
        run_id = upsert(client, entityName=user.entity, modelName=PROJECT, name=run)["bucket"]["id"]
        artifact = data(
            client,
            load_operation("create_artifact"),
            {"input": _artifact_input(user.entity, run, "secretdata", "d1")},
        )["createArtifact"]["artifact"]
        data(client, load_operation("commit_artifact"), {"input": {"artifactID": artifact["id"]}})
    node = next(n for n in nodes(user, run) if n["name"] == "secret.txt")
    return Victim(
        user=user,
        run=run,
        run_id=run_id,
        artifact_id=artifact["id"],
        file_url=node["url"],
        direct_url=node["directUrl"],
        upload_url=node["uploadUrl"],
    )


def _artifact_input(entity: str, run: str | None, collection: str, digest: str) -> dict[str, Any]:
    value: dict[str, Any] = {
        "entityName": entity,
        "projectName": PROJECT,
        "artifactTypeName": "dataset",
        "artifactCollectionNames": [collection],
        "digestAlgorithm": "MANIFEST_MD5",
        "digest": digest,
    }
    if run is not None:
        value["runName"] = run
    return value


def _swap(value: Any, real: str, ghost: str) -> str:
    return json.dumps(value).replace(real, ghost)


# --------------------------------------------------------------------------- queries


def test_every_query_path_reads_as_missing(victim: Victim, other_user: User) -> None:
    b = victim.user
    probe = test_operation("security_probe")
    variables = {
        "entity": b.entity,
        "project": PROJECT,
        "run": victim.run,
        "artifact": "secretdata",
    }
    ghost_vars = {**variables, "entity": GHOST}
    before = db_digest(b.server.data_dir)
    with other_user.http() as attacker, b.http() as owner:
        seen = graphql(attacker, probe, variables)
        missing = graphql(attacker, probe, ghost_vars)
        own = graphql(owner, probe, variables)
        # Without an entity the caller's own (empty) namespace is searched: nothing either.
        implicit = graphql(attacker, probe, {**variables, "entity": None})
    # The owner sees everything the probe asks for ...
    assert own["data"]["project"]["run"]["name"] == victim.run
    assert own["data"]["project"]["artifact"]["id"] == victim.artifact_id
    # ... the attacker sees exactly what a missing entity gives: nulls, no errors.
    assert "errors" not in seen
    assert seen == missing
    assert seen["data"]["viewer"]["name"] == other_user.name  # the caller, never B
    assert seen["data"]["project"] is None
    assert seen["data"]["model"] is None
    assert seen["data"]["entity"] is None
    assert implicit["data"]["project"] is None
    assert db_digest(b.server.data_dir) == before


def test_run_level_queries_on_victim_run_are_null(victim: Victim, other_user: User) -> None:
    b = victim.user
    key = {"entity": b.entity, "project": PROJECT, "name": victim.run}
    operations: list[tuple[str, dict[str, Any]]] = [
        ("get_run", {}),
        ("get_run_history", {"samples": 10}),
        ("get_run_events", {}),
        ("get_run_history_keys", {}),
        ("get_run_sampled_history", {"specs": [json.dumps({"keys": ["loss"]})]}),
        ("get_run_state", {}),
        ("list_run_files", {}),
        ("list_logged_artifacts", {}),
        ("list_used_artifacts", {}),
        ("count_runs", {"filters": None}),
        ("list_runs", {}),
    ]
    with other_user.http() as attacker:
        for name, extra in operations:
            variables = {**key, **extra}
            if name in ("count_runs", "list_runs"):
                variables.pop("name")
            body = graphql(attacker, load_operation(name), variables)
            assert "errors" not in body, (name, body)
            assert body["data"] == {"project": None}, name


# --------------------------------------------------------------------------- mutations

Mutation = Callable[[Victim, User, str], tuple[str, dict[str, Any]]]
"""(victim, attacker, entity to target) -> (operation, variables)"""


def _upsert_by_name(v: Victim, a: User, entity: str) -> tuple[str, dict[str, Any]]:
    target = {"entityName": entity, "modelName": PROJECT, "name": v.run, "notes": "pwned"}
    return "upsert_run", {"input": target}


def _upsert_by_id(v: Victim, a: User, entity: str) -> tuple[str, dict[str, Any]]:
    storage = base64.b64encode(f"Run:v1:{v.run}:{PROJECT}:{entity}".encode()).decode()
    return "upsert_run", {"input": {"id": storage, "notes": "pwned", "summaryMetrics": "{}"}}


def _delete_run(v: Victim, a: User, entity: str) -> tuple[str, dict[str, Any]]:
    storage = base64.b64encode(f"Run:v1:{v.run}:{PROJECT}:{entity}".encode()).decode()
    return "delete_run", {"input": {"id": storage, "deleteArtifacts": True}}


def _create_run_files(v: Victim, a: User, entity: str) -> tuple[str, dict[str, Any]]:
    target = {"entityName": entity, "projectName": PROJECT, "runName": v.run, "files": ["x"]}
    return "create_run_files", {"input": target}


def _create_artifact(v: Victim, a: User, entity: str) -> tuple[str, dict[str, Any]]:
    return "create_artifact", {"input": _artifact_input(entity, None, "secretdata", "evil")}


def _create_artifact_on_run(v: Victim, a: User, entity: str) -> tuple[str, dict[str, Any]]:
    return "create_artifact", {"input": _artifact_input(entity, v.run, "mine", "evil")}


def _use_artifact_in_victim_run(v: Victim, a: User, entity: str) -> tuple[str, dict[str, Any]]:
    own = v.artifact_id
    target = {"entityName": entity, "projectName": PROJECT, "runName": v.run, "artifactID": own}
    return "use_artifact", {"input": target}


MUTATIONS: dict[str, Mutation] = {
    "upsertBucket by name": _upsert_by_name,
    "upsertBucket by id": _upsert_by_id,
    "deleteRun": _delete_run,
    "createRunFiles": _create_run_files,
    "createArtifact into B's project": _create_artifact,
    "createArtifact on B's run": _create_artifact_on_run,
    "useArtifact in B's run": _use_artifact_in_victim_run,
}


@pytest.mark.parametrize("path", list(MUTATIONS))
def test_mutations_on_victim_are_refused_like_missing(
    victim: Victim, other_user: User, path: str
) -> None:
    b = victim.user
    build = MUTATIONS[path]
    before = db_digest(b.server.data_dir)
    files_before = sorted(p.name for p in (b.server.data_dir / "files").rglob("*"))
    with other_user.http() as attacker:
        name, real_vars = build(victim, other_user, b.entity)
        real = graphql(attacker, load_operation(name), real_vars)
        _name, ghost_vars = build(victim, other_user, GHOST)
        ghost = graphql(attacker, load_operation(name), ghost_vars)
    assert real.get("errors"), real
    assert "not found" in real["errors"][0]["message"]
    assert real["data"] == ghost["data"]
    real_messages = [e["message"] for e in real["errors"]]
    ghost_messages = [e["message"] for e in ghost["errors"]]
    if name in ("upsert_run", "delete_run") and "id" in real_vars["input"]:
        # The storage id embeds the entity: swap the encoded ids, not the names.
        real_id, ghost_id = real_vars["input"]["id"], ghost_vars["input"]["id"]
        assert _swap(real_messages, real_id, ghost_id) == json.dumps(ghost_messages)
    else:
        assert _swap(real_messages, b.entity, GHOST) == json.dumps(ghost_messages)
    assert db_digest(b.server.data_dir) == before
    assert sorted(p.name for p in (b.server.data_dir / "files").rglob("*")) == files_before


def test_use_artifact_of_victim_by_id_is_refused_like_missing(
    victim: Victim, other_user: User
) -> None:
    a = other_user
    with a.http() as attacker:
        upsert(attacker, entityName=a.entity, modelName=PROJECT, name="mine")
        before = db_digest(a.server.data_dir)
        results = []
        ghost_id = base64.b64encode(b"Artifact:987654321").decode()
        for artifact_id, entity in (
            (victim.artifact_id, None),
            (ghost_id, None),
            (victim.artifact_id, victim.user.entity),
        ):
            target = {
                "entityName": a.entity,
                "projectName": PROJECT,
                "runName": "mine",
                "artifactID": artifact_id,
            }
            if entity is not None:
                target["artifactEntityName"] = entity
            body = graphql(attacker, load_operation("use_artifact"), {"input": target})
            results.append(body)
    victim_body, ghost_body, named_body = results
    for body in results:
        assert body["data"] == {"useArtifact": None}
        assert "not found" in body["errors"][0]["message"]
    assert _swap(victim_body["errors"][0]["message"], victim.artifact_id, ghost_id) == json.dumps(
        ghost_body["errors"][0]["message"]
    )
    assert named_body["errors"][0]["message"] == victim_body["errors"][0]["message"]
    assert db_digest(a.server.data_dir) == before


# --------------------------------------------------------------------------- REST


def test_download_with_attacker_key_is_404_like_missing(victim: Victim, other_user: User) -> None:
    ghost_url = victim.file_url.replace(f"/{victim.user.entity}/", f"/{GHOST}/")
    with other_user.http() as attacker:
        real = attacker.get(victim.file_url)
        ghost = attacker.get(ghost_url)
        # Guessing names of B's files reveals nothing either.
        guessed = attacker.get(victim.file_url.replace("secret.txt", "output.log"))
    assert real.status_code == ghost.status_code == guessed.status_code == 404
    assert real.text.replace(victim.user.entity, GHOST) == ghost.text
    assert b"top secret" not in real.content + guessed.content


def test_signed_urls_cannot_be_retargeted_to_victim(victim: Victim, other_user: User) -> None:
    a = other_user
    with a.http() as client:
        upsert(client, entityName=a.entity, modelName=PROJECT, name=victim.run)
    upload(a, victim.run, "secret.txt", b"attacker file")
    (mine,) = nodes(a, victim.run)
    # A's valid download signature on B's path (same run name and file name): refused.
    my_query = urlsplit(mine["directUrl"]).query
    forged = victim.file_url + "?" + my_query
    response = httpx.get(forged, timeout=10)
    assert response.status_code == 403
    assert b"top secret" not in response.content
    # A's valid upload signature on B's run (same run name): refused, nothing written.
    before = db_digest(a.server.data_dir)
    my_upload = create_files(a, victim.run, ["secret.txt"])["files"][0]["uploadUrl"]
    retargeted = my_upload.replace(f"/upload/{a.entity}/", f"/upload/{victim.user.entity}/")
    assert retargeted != my_upload
    assert httpx.put(retargeted, content=b"overwrite", timeout=10).status_code == 403
    assert db_digest(a.server.data_dir) == before
    # B's own links still serve B's bytes.
    assert httpx.get(victim.direct_url, timeout=10).content == b"top secret"


def test_file_stream_into_victim_run_is_404_like_missing(victim: Victim, other_user: User) -> None:
    b = victim.user
    body = {"files": {"wandb-history.jsonl": {"offset": 0, "content": ['{"_step": 0}']}}}
    before = db_digest(b.server.data_dir)
    real_url = f"{b.server.url}/files/{b.entity}/{PROJECT}/{victim.run}/file_stream"
    ghost_url = real_url.replace(f"/{b.entity}/", f"/{GHOST}/")
    real = httpx.post(real_url, json=body, auth=other_user.auth, timeout=10)
    ghost = httpx.post(ghost_url, json=body, auth=other_user.auth, timeout=10)
    assert real.status_code == ghost.status_code == 404
    assert real.text.replace(b.entity, GHOST) == ghost.text
    completed = httpx.post(
        real_url, json={"files": {}, "complete": True, "exitcode": 1}, auth=other_user.auth
    )
    assert completed.status_code == 404
    assert db_digest(b.server.data_dir) == before


def test_run_page_and_page_tokens_of_victim(victim: Victim, other_user: User) -> None:
    b, a = victim.user, other_user
    page = f"{b.server.url}/{b.entity}/{PROJECT}/runs/{victim.run}"
    ghost_page = page.replace(f"/{b.entity}/", f"/{GHOST}/")
    with a.http() as attacker:
        real, ghost = attacker.get(page), attacker.get(ghost_page)
        assert real.status_code == ghost.status_code == 404
        assert real.text.replace(b.entity, GHOST) == ghost.text
        wanted = {"entity": b.entity, "project": PROJECT, "run": victim.run}
        refused = attacker.post("/pages/token", json=wanted)
        missing = attacker.post("/pages/token", json={**wanted, "entity": GHOST})
        assert refused.status_code == missing.status_code == 404
        assert refused.text.replace(b.entity, GHOST) == missing.text
        upsert(attacker, entityName=a.entity, modelName=PROJECT, name=victim.run)
        token = attacker.post(
            "/pages/token", json={"entity": a.entity, "project": PROJECT, "run": victim.run}
        ).json()["token"]
    # A's token for A's run of the same name does not open B's page.
    forged = httpx.get(page, params={"token": token}, timeout=10)
    assert forged.status_code == 401
    assert "secret log" not in forged.text and victim.run_id not in forged.text
