"""The real `wandb` 0.21.4 public API against a spawned `runapi serve`.

The data is written through our own wire (GraphQL `upsertBucket`, `createRunFiles` + signed
PUT, `createArtifact`/`useArtifact`, and the SDK's file_stream endpoint), then read and changed
by wandb in a subprocess (tests/compat/wandb_public_api.py), exactly as a user's script would
with WANDB_BASE_URL and WANDB_API_KEY set. Each test below checks one wandb operation against
what was written; changes wandb makes are checked through our GraphQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import ROOT, Server, User, load_operation

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


@dataclass(frozen=True)
class Seeded:
    user: User
    artifact_id: str


@pytest.fixture(scope="module")
def seeded(spawned_server: Server) -> Seeded:
    name = "wandbcompat"
    user = User(name=name, api_key=spawned_server.create_user(name), server=spawned_server)
    return Seeded(user=user, artifact_id=seed(user))


@pytest.fixture(scope="module")
def compat_user(seeded: Seeded) -> User:
    return seeded.user


@pytest.fixture(scope="module")
def wandb_results(compat_user: User, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("wandb-compat")
    spec = {
        "entity": compat_user.entity,
        "project": PROJECT,
        "work_dir": str(work),
        "main_run": MAIN,
        "failed_run": FAILED,
        "user_run": USER_RUN,
        "created_run": CREATED,
        "artifact_name": ARTIFACT,
        "download": ["wandb-metadata.json", "model/weights.bin"],
        "upload_text": UPLOAD_TEXT,
        "runs_queries": [[name, filters, order] for name, filters, order, _ in RUNS_QUERIES],
    }
    (work / "spec.json").write_text(json.dumps(spec))
    home = work / "home"
    home.mkdir()
    (work / "wandb").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(
        {
            "WANDB_BASE_URL": compat_user.server.url,
            "WANDB_API_KEY": compat_user.api_key,
            "WANDB_SILENT": "true",
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_DIR": str(work / "wandb"),
            "WANDB_CACHE_DIR": str(work / "cache"),
            "WANDB_CONFIG_DIR": str(work / "config"),
            "WANDB_DATA_DIR": str(work / "data"),
            "HOME": str(home),
            "NETRC": str(home / ".netrc"),
        }
    )
    results_path = work / "results.json"
    try:
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), str(work / "spec.json"), str(results_path)],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )
        output = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        output = f"timed out after {SUBPROCESS_TIMEOUT}s: {exc.stdout!r} {exc.stderr!r}"
    if not results_path.exists():
        pytest.fail(f"the wandb script recorded nothing: {output[-3000:]}")
    results: dict[str, Any] = json.loads(results_path.read_text(), parse_constant=lambda c: c)
    results["_output"] = output
    return results


def ok(results: dict[str, Any], step: str) -> Any:
    """The value wandb returned for `step`, failing with wandb's error when it raised."""
    assert step in results, f"step {step!r} never ran; script output:\n{results['_output'][-3000:]}"
    entry = results[step]
    assert "error" not in entry, f"wandb {step} failed: {entry['error']}\n{entry['trace']}"
    return entry["ok"]


def test_api_and_viewer(wandb_results: dict[str, Any], compat_user: User) -> None:
    ok(wandb_results, "api")
    assert ok(wandb_results, "default_entity") == compat_user.entity


def test_run_attributes(wandb_results: dict[str, Any], compat_user: User) -> None:
    attrs = ok(wandb_results, "run_attrs")
    assert attrs["id"] == MAIN
    assert attrs["name"] == f"baseline-{MAIN}"
    assert attrs["entity"] == compat_user.entity
    assert attrs["project"] == PROJECT
    assert attrs["state"] == "finished"
    assert attrs["config"] == {"lr": 0.01, "optimizer": {"name": "adam", "betas": [0.9, 0.999]}}
    assert attrs["summary"] == MAIN_SUMMARY
    assert attrs["tags"] == TAGS[MAIN]
    assert attrs["group"] == "sweep-1"
    assert attrs["job_type"] == "train"
    assert attrs["last_history_step"] == 119
    assert attrs["url"] == f"{compat_user.server.url}/{compat_user.entity}/{PROJECT}/runs/{MAIN}"
    decoded = base64.b64decode(attrs["storage_id"]).decode()
    assert decoded == f"Run:v1:{MAIN}:{PROJECT}:{compat_user.entity}"
    assert ok(wandb_results, "run_by_runs_path") == MAIN


def test_metadata_from_uploaded_file(wandb_results: dict[str, Any]) -> None:
    assert ok(wandb_results, "metadata") == METADATA


def test_history_returns_every_row_written(wandb_results: dict[str, Any]) -> None:
    assert normalized(ok(wandb_results, "history")) == normalized(MAIN_HISTORY)
    frame = ok(wandb_results, "history_pandas")
    assert frame["shape"][0] == len(MAIN_HISTORY)
    assert frame["columns"] == sorted({k for row in MAIN_HISTORY for k in row})


def test_history_samples_keeps_first_and_last(wandb_results: dict[str, Any]) -> None:
    rows = ok(wandb_results, "history_samples")
    assert 2 <= len(rows) <= 10
    assert rows[0]["_step"] == 0
    assert rows[-1]["_step"] == 119
    by_step = {r["_step"]: r for r in normalized(MAIN_HISTORY)}
    assert all(by_step[r["_step"]] == r for r in normalized(rows))


def test_history_with_keys_has_rows_with_all_keys(wandb_results: dict[str, Any]) -> None:
    expected = [
        {"_step": r["_step"], "loss": r["loss"], "acc": r["acc"]}
        for r in MAIN_HISTORY
        if "acc" in r
    ]
    assert normalized(ok(wandb_results, "history_keys")) == normalized(expected)


def test_system_metrics_stream(wandb_results: dict[str, Any]) -> None:
    assert normalized(ok(wandb_results, "history_system")) == normalized(EVENTS)


def test_scan_history(wandb_results: dict[str, Any]) -> None:
    assert normalized(ok(wandb_results, "scan_history")) == normalized(MAIN_HISTORY)
    window = [r for r in MAIN_HISTORY if 10 <= r["_step"] < 50]
    assert normalized(ok(wandb_results, "scan_history_window")) == normalized(window)


def test_scan_history_with_keys(wandb_results: dict[str, Any]) -> None:
    acc = [{"acc": r["acc"]} for r in MAIN_HISTORY if "acc" in r]
    assert normalized(ok(wandb_results, "scan_history_keys")) == normalized(acc)
    loss = [{"loss": r["loss"]} for r in MAIN_HISTORY if 5 <= r["_step"] < 25]
    assert normalized(ok(wandb_results, "scan_history_keys_window")) == normalized(loss)


def test_files_and_download(wandb_results: dict[str, Any]) -> None:
    files = {f["name"]: f for f in ok(wandb_results, "files")}
    assert set(files) >= {"wandb-metadata.json", "model/weights.bin", "output.log"}
    assert files["model/weights.bin"]["size"] == len(WEIGHTS)
    assert files["wandb-metadata.json"]["size"] == len(json.dumps(METADATA).encode())
    assert ok(wandb_results, "files_pattern") == ["wandb-metadata.json"]
    assert ok(wandb_results, "files_len") == len(files)
    assert ok(wandb_results, "download") == {
        "wandb-metadata.json": hashlib.md5(json.dumps(METADATA).encode()).hexdigest(),
        "model/weights.bin": hashlib.md5(WEIGHTS).hexdigest(),
    }


def test_update_persists_config_summary_and_fields(
    wandb_results: dict[str, Any], compat_user: User
) -> None:
    reloaded = ok(wandb_results, "update")
    assert reloaded["config"]["lr"] == 0.02
    assert reloaded["summary"]["wandb_note"] == "updated"

    run = graphql(
        compat_user, "get_run", {"entity": compat_user.entity, "project": PROJECT, "name": MAIN}
    )["project"]["run"]
    config = json.loads(run["config"])
    assert config["lr"]["value"] == 0.02
    assert config["added"]["value"] == {"by": "wandb"}
    assert config["optimizer"]["value"] == {"name": "adam", "betas": [0.9, 0.999]}
    assert config["_wandb"]["value"] == {"cli_version": "0.21.4"}  # internal key kept
    assert json.loads(run["summaryMetrics"]) == {
        **MAIN_SUMMARY,
        "acc": 0.99,
        "wandb_note": "updated",
    }
    assert run["tags"] == [*TAGS[MAIN], "from-wandb"]
    assert run["notes"] == "notes from wandb"
    assert run["displayName"] == "renamed by wandb"
    assert run["state"] == "finished"  # update leaves the state alone


def test_upload_file(wandb_results: dict[str, Any], compat_user: User) -> None:
    uploaded = ok(wandb_results, "upload_file")
    assert uploaded["name"] == "notes/readme.txt"
    assert uploaded["size"] == len(UPLOAD_TEXT.encode())
    assert "notes/readme.txt" in uploaded["listed"]

    files = graphql(
        compat_user,
        "list_run_files",
        {
            "entity": compat_user.entity,
            "project": PROJECT,
            "name": MAIN,
            "names": ["notes/readme.txt"],
        },
    )["project"]["run"]["files"]["edges"]
    assert len(files) == 1
    content = httpx.get(files[0]["node"]["url"], auth=compat_user.auth, timeout=30)
    assert content.status_code == 200
    assert content.text == UPLOAD_TEXT


def expected_artifact(seeded: Seeded, name: str = f"{ARTIFACT}:v0") -> dict[str, Any]:
    return {
        "id": seeded.artifact_id,
        "name": name,  # wandb keeps the name it was asked for
        "source_name": f"{ARTIFACT}:v0",
        "type": "dataset",
        "version": "v0",
        "aliases": ["best", "latest"],
        "metadata": {"rows": 60000},
    }


def test_logged_and_used_artifacts(wandb_results: dict[str, Any], seeded: Seeded) -> None:
    assert ok(wandb_results, "logged_artifacts") == [expected_artifact(seeded)]
    assert ok(wandb_results, "used_artifacts") == [expected_artifact(seeded)]
    assert ok(wandb_results, "api_artifact") == expected_artifact(seeded, f"{ARTIFACT}:latest")


def test_use_artifact(wandb_results: dict[str, Any], seeded: Seeded, compat_user: User) -> None:
    assert ok(wandb_results, "use_artifact") == [expected_artifact(seeded)]
    used = graphql(
        compat_user,
        "list_used_artifacts",
        {"entity": compat_user.entity, "project": PROJECT, "name": USER_RUN},
    )
    edges = used["project"]["run"]["inputArtifacts"]["edges"]
    assert [e["node"]["digest"] for e in edges] == [ARTIFACT_DIGEST]


@pytest.mark.parametrize(("name", "expected"), [(q[0], q[3]) for q in RUNS_QUERIES])
def test_runs_filters_order_pagination(
    wandb_results: dict[str, Any], name: str, expected: list[str]
) -> None:
    assert ok(wandb_results, f"runs:{name}") == {"ids": expected, "len": len(expected)}


def failure(results: dict[str, Any], step: str) -> str:
    """The error wandb raised in `step` (which must fail), checked to come back fast."""
    entry = results[step]
    assert "error" in entry, f"wandb {step} should have failed but returned {entry['ok']!r}"
    assert entry["seconds"] < 10, f"wandb {step} took {entry['seconds']}s (retrying?)"
    error: str = entry["error"]
    return error


def test_errors_reach_wandb_without_retries(wandb_results: dict[str, Any]) -> None:
    assert "$bogus" in failure(wandb_results, "runs_bad_filter")
    assert "Could not find run" in failure(wandb_results, "missing_run")
    assert failure(wandb_results, "bad_key").startswith("AuthenticationError")


def test_runs_index_across_pages(wandb_results: dict[str, Any]) -> None:
    assert ok(wandb_results, "runs_index") == EXTRA_A


def test_run_create_and_delete(wandb_results: dict[str, Any], compat_user: User) -> None:
    assert ok(wandb_results, "run_create") == {
        "created": CREATED,
        "loaded": CREATED,
        "state": "running",
    }
    assert ok(wandb_results, "run_create_default_entity") == {
        "entity": compat_user.entity,
        "project": PROJECT,
        "id": CREATED + "x",
    }
    assert "Could not find run" in ok(wandb_results, "delete")
    gone = graphql(
        compat_user, "get_run", {"entity": compat_user.entity, "project": PROJECT, "name": CREATED}
    )
    assert gone["project"]["run"] is None
