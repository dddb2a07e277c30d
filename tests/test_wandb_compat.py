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
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import Server, User
from wandb_compat_seed import (
    ARTIFACT,
    ARTIFACT_DIGEST,
    CREATED,
    EVENTS,
    EXTRA_A,
    FAILED,
    MAIN,
    MAIN_HISTORY,
    MAIN_SUMMARY,
    METADATA,
    PROJECT,
    RUNS_QUERIES,
    SCRIPT,
    SUBPROCESS_TIMEOUT,
    TAGS,
    UPLOAD_TEXT,
    USER_RUN,
    WEIGHTS,
    graphql,
    normalized,
    seed,
)


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
