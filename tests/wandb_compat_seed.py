"""Data the wandb compatibility tests write through our own wire, and what they expect.

See tests/test_wandb_compat.py.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
from conftest import ROOT, User, load_operation

SCRIPT = ROOT / "tests" / "compat" / "wandb_public_api.py"
SUBPROCESS_TIMEOUT = 120
PROJECT = "compat"
MAIN, FAILED, USER_RUN, EXTRA_A, EXTRA_B = "mainrun1", "failrun2", "userrun3", "extra4", "extra5"
CREATED = "created6"
ARTIFACT = "mnist"
ARTIFACT_DIGEST = "0123456789abcdef0123456789abcdef"
LRS = {MAIN: 0.01, FAILED: 0.1, USER_RUN: 0.001, EXTRA_A: 0.05, EXTRA_B: 0.003}
TAGS = {MAIN: ["baseline", "a"], FAILED: ["b"], USER_RUN: ["b", "c"], EXTRA_A: [], EXTRA_B: ["a"]}
METADATA = {"host": "box-1", "python": "CPython 3.11.7", "program": "train.py", "gpu_count": 0}
WEIGHTS = bytes(range(256)) * 40
UPLOAD_TEXT = "uploaded by wandb's run.upload_file\n"
MAIN_SUMMARY = {"loss": 0.05, "acc": 0.9, "best": {"epoch": 3, "loss": 0.04}}


def history_row(step: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "_step": step,
        "_runtime": step * 0.5,
        "_timestamp": 1_700_000_000 + step,
        "loss": 1.0 / (step + 1),
        "lr": 0.01 * 0.99**step,
    }
    if step % 2 == 0:
        row["acc"] = step / 200
    if step == 7:
        row["loss"] = math.nan
    if step == 13:
        row["lr"] = math.inf
    if step % 10 == 0:
        row["nested"] = {"grad": {"norm": step * 0.1, "hist": [1, 2, step]}}
    return row


MAIN_HISTORY = [history_row(s) for s in range(120)]
EVENTS = [
    {"_runtime": i * 10.0, "_timestamp": 1_700_000_000 + i * 10, "system.cpu": 10.0 + i}
    for i in range(3)
]


def normalized(value: Any) -> Any:
    """NaN != NaN: compare JSON text instead (bare NaN/Infinity tokens, sorted keys)."""
    return json.loads(json.dumps(value, sort_keys=True), parse_constant=lambda c: c)


def graphql(user: User, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        user.server.url + "/graphql",
        json={"query": load_operation(operation), "variables": variables},
        auth=user.auth,
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def upsert_run(user: User, name: str, **fields: Any) -> None:
    graphql(
        user,
        "upsert_run",
        {"input": {"entityName": user.entity, "modelName": PROJECT, "name": name, **fields}},
    )


def file_stream(user: User, run: str, body: dict[str, Any]) -> None:
    response = httpx.post(
        f"{user.server.url}/files/{user.entity}/{PROJECT}/{run}/file_stream",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
        auth=user.auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text


def stream_history(user: User, run: str, rows: list[dict[str, Any]], chunk: int = 50) -> None:
    for offset in range(0, len(rows), chunk):
        lines = [json.dumps(r) for r in rows[offset : offset + chunk]]
        file_stream(
            user, run, {"files": {"wandb-history.jsonl": {"offset": offset, "content": lines}}}
        )


def upload(user: User, run: str, files: dict[str, bytes]) -> None:
    data = graphql(
        user,
        "create_run_files",
        {
            "input": {
                "entityName": user.entity,
                "projectName": PROJECT,
                "runName": run,
                "files": list(files),
            }
        },
    )["createRunFiles"]
    headers = dict(h.split(":", 1) for h in data["uploadHeaders"])
    for entry in data["files"]:
        put = httpx.put(
            entry["uploadUrl"], content=files[entry["name"]], headers=headers, timeout=30
        )
        assert put.status_code in (200, 201), put.text


def seed(user: User) -> str:
    """Write every run, file and artifact the tests read back; return the artifact's id."""
    for run, lr in LRS.items():
        upsert_run(
            user,
            run,
            displayName=f"{'baseline' if run == MAIN else 'run'}-{run}",
            config=json.dumps(
                {
                    "lr": {"value": lr, "desc": None},
                    "optimizer": {"value": {"name": "adam", "betas": [0.9, 0.999]}, "desc": None},
                    "_wandb": {"value": {"cli_version": "0.21.4"}, "desc": None},
                }
            ),
            tags=TAGS[run],
            groupName="sweep-1",
            jobType="train",
            state="running",
        )
    stream_history(user, MAIN, MAIN_HISTORY)
    stream_history(user, MAIN, MAIN_HISTORY[:50])  # a re-sent chunk must not duplicate rows
    file_stream(
        user,
        MAIN,
        {
            "files": {
                "wandb-events.jsonl": {"offset": 0, "content": [json.dumps(e) for e in EVENTS]},
                "wandb-summary.json": {"offset": 0, "content": [json.dumps(MAIN_SUMMARY)]},
                "output.log": {"offset": 0, "content": ["epoch 1", "epoch 2"]},
            }
        },
    )
    upload(
        user,
        MAIN,
        {"wandb-metadata.json": json.dumps(METADATA).encode(), "model/weights.bin": WEIGHTS},
    )
    file_stream(user, MAIN, {"files": {}, "complete": True, "exitcode": 0})

    stream_history(user, FAILED, [history_row(s) for s in range(10)])
    file_stream(
        user,
        FAILED,
        {
            "files": {
                "wandb-summary.json": {
                    "offset": 0,
                    "content": [json.dumps({"loss": 0.5, "acc": 0.2})],
                }
            }
        },
    )
    file_stream(user, FAILED, {"files": {}, "complete": True, "exitcode": 1})
    file_stream(
        user,
        EXTRA_A,
        {
            "files": {
                "wandb-summary.json": {
                    "offset": 0,
                    "content": [json.dumps({"loss": 0.3, "acc": 0.7})],
                }
            }
        },
    )
    file_stream(user, EXTRA_A, {"files": {}, "complete": True, "exitcode": 0})

    created = graphql(
        user,
        "create_artifact",
        {
            "input": {
                "artifactTypeName": "dataset",
                "artifactCollectionNames": [ARTIFACT],
                "digestAlgorithm": "MANIFEST_MD5",
                "entityName": user.entity,
                "projectName": PROJECT,
                "runName": MAIN,
                "digest": ARTIFACT_DIGEST,
                "aliases": [
                    {"artifactCollectionName": ARTIFACT, "alias": "latest"},
                    {"artifactCollectionName": ARTIFACT, "alias": "best"},
                ],
                "metadata": json.dumps({"rows": 60000}),
            }
        },
    )["createArtifact"]["artifact"]
    graphql(user, "commit_artifact", {"input": {"artifactID": created["id"]}})
    graphql(
        user,
        "use_artifact",
        {
            "input": {
                "entityName": user.entity,
                "projectName": PROJECT,
                "runName": FAILED,
                "artifactID": created["id"],
            }
        },
    )
    return str(created["id"])


RUNS_QUERIES: list[tuple[str, dict[str, Any] | None, str, list[str]]] = [
    ("all", None, "+created_at", [MAIN, FAILED, USER_RUN, EXTRA_A, EXTRA_B]),
    ("newest_first", None, "-created_at", [EXTRA_B, EXTRA_A, USER_RUN, FAILED, MAIN]),
    ("lr_gt", {"config.lr": {"$gt": 0.005}}, "-config.lr", [FAILED, EXTRA_A, MAIN]),
    ("state", {"state": "finished"}, "+created_at", [MAIN, EXTRA_A]),
    ("tags_in", {"tags": {"$in": ["b"]}}, "+created_at", [FAILED, USER_RUN]),
    (
        "or_regex_summary",
        {
            "$or": [
                {"display_name": {"$regex": "^baseline"}},
                {"summary_metrics.acc": {"$gte": 0.5}},
            ]
        },
        "-summary_metrics.acc",
        [MAIN, EXTRA_A],
    ),
    (
        "and_nin",
        {"$and": [{"tags": {"$nin": ["a"]}}, {"config.lr": {"$lt": 0.06}}]},
        "+config.lr",
        [USER_RUN, EXTRA_A],
    ),
]
