"""Static type checks of the public API (checked by mypy --strict; never executed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, assert_type

import pandas

import runapi


def check(api: runapi.Api) -> None:
    run = api.run("entity/project/run_id")
    assert_type(run, runapi.Run)
    assert_type(run.history(), pandas.DataFrame)
    assert_type(run.history(pandas=True), pandas.DataFrame)
    assert_type(run.history(samples=10, keys=["loss"]), pandas.DataFrame)
    assert_type(run.history(pandas=False), list[dict[str, Any]])
    assert_type(run.history(100, ["loss"], "_step", pandas=False), list[dict[str, Any]])
    assert_type(run.scan_history(), runapi.HistoryScan)
    assert_type(run.scan_history().to_pandas(), pandas.DataFrame)
    assert_type(run.files(), runapi.Paginator[runapi.File])
    assert_type(run.files()[0], runapi.File)
    assert_type(run.files()[:2], list[runapi.File])
    assert_type(run.file("a"), runapi.File)
    assert_type(run.logged_artifacts(), runapi.Paginator[runapi.Artifact])
    assert_type(run.used_artifacts(), runapi.Paginator[runapi.Artifact])
    assert_type(api.runs("entity/project"), runapi.Runs)
    assert_type(api.runs("entity/project")[0], runapi.Run)
    assert_type(api.runs("entity/project").to_pandas(), pandas.DataFrame)
    assert_type(api.artifact("e/p/a:v0"), runapi.Artifact)
    artifact = api.artifact("e/p/a:v0")
    assert_type(artifact.files(), runapi.Paginator[runapi.ArtifactFile])
    assert_type(artifact.file("a"), runapi.ArtifactFile)
    assert_type(artifact.manifest, runapi.ArtifactManifest)
    assert_type(artifact.manifest.entries["a"], runapi.ManifestEntry)
    assert_type(artifact.download(), Path)
    assert_type(artifact.digest, str)
    assert_type(artifact.size, int)
    assert_type(artifact.file_count, int)
    spec = runapi.ArtifactSpec("a", "dataset")
    assert_type(spec.add_file("x"), str)
    assert_type(spec.add_dir("d"), None)
    assert_type(run.log_artifact(spec, aliases=["best"]), runapi.Artifact)
    assert_type(run.config, dict[str, Any])
    assert_type(run.summary, dict[str, Any])
    assert_type(run.path, list[str])
    assert_type(run.metadata, dict[str, Any] | None)
    assert_type(run.lastHistoryStep, int)
    assert_type(run.wait_until_finished(timeout=1.0), str)
    for row in run.scan_history(keys=["loss"]):
        assert_type(row, dict[str, Any])
