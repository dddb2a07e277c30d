"""Parsing run, project and artifact paths."""

from __future__ import annotations

import pytest

import runapi
from runapi._paths import (
    ArtifactPath,
    RunPath,
    parse_artifact_path,
    parse_project_path,
    parse_run_path,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice/mnist/1a2b3c4d", RunPath("alice", "mnist", "1a2b3c4d")),
        ("alice/mnist/runs/1a2b3c4d", RunPath("alice", "mnist", "1a2b3c4d")),
        ("https://wandb.ai/alice/mnist/runs/1a2b3c4d", RunPath("alice", "mnist", "1a2b3c4d")),
        ("http://127.0.0.1:8080/alice/mnist/runs/abc/", RunPath("alice", "mnist", "abc")),
        ("https://wandb.ai/alice/mnist/runs/abc?workspace=x", RunPath("alice", "mnist", "abc")),
        ("  team-1/my_proj/run.1  ", RunPath("team-1", "my_proj", "run.1")),
    ],
)
def test_run_path_forms(text: str, expected: RunPath) -> None:
    assert parse_run_path(text) == expected
    assert str(expected) == f"{expected.entity}/{expected.project}/{expected.run_id}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice",
        "alice/mnist",
        "alice/mnist/",
        "alice//abc",
        "alice/mnist/abc/def",
        "alice/mnist/runs/",
        "a/b/c/d/e",
        "alice/mn ist/abc",
        "https://wandb.ai/alice/mnist/abc",
        "https://wandb.ai/alice/mnist/runs",
        "ftp://wandb.ai/alice/mnist/runs/abc",
    ],
)
def test_malformed_run_path_names_the_forms(text: str) -> None:
    with pytest.raises(runapi.InvalidPathError, match="entity/project/run_id") as info:
        parse_run_path(text)
    assert "entity/project/runs/run_id" in str(info.value)
    assert "run URL" in str(info.value)


def test_run_path_must_be_str() -> None:
    with pytest.raises(TypeError):
        parse_run_path(123)  # type: ignore[arg-type]


def test_project_path() -> None:
    assert parse_project_path("alice/mnist") == ("alice", "mnist")
    for bad in ["alice", "alice/mnist/x", "/mnist", "alice/ mnist"]:
        with pytest.raises(runapi.InvalidPathError, match="entity/project"):
            parse_project_path(bad)


def test_artifact_path() -> None:
    assert parse_artifact_path("a/p/data:v3") == ArtifactPath("a", "p", "data", "v3")
    assert parse_artifact_path("a/p/data").version == "latest"
    assert parse_artifact_path("a/p/data:best").qualified_name == "data:best"
    for bad in ["a/p", "a/p/:v1", "a/p/data:", "a/p/x/y:v1"]:
        if bad == "a/p/data:":
            assert parse_artifact_path(bad).version == "latest"
            continue
        with pytest.raises(runapi.InvalidPathError, match="name:version"):
            parse_artifact_path(bad)


def test_malformed_paths_are_in_the_error_tree_and_still_value_errors() -> None:
    with pytest.raises(runapi.InvalidPathError) as info:
        parse_run_path("alice/mnist")
    assert isinstance(info.value, runapi.RunapiError)
    assert isinstance(info.value, ValueError)
