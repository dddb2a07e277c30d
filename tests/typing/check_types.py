"""Static type checks of the public API (checked by mypy --strict; never executed)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, assert_type

import pandas

import runapi
from runapi.filters import (
    Config,
    CreatedAt,
    DisplayName,
    Filter,
    Group,
    JobType,
    Name,
    State,
    Summary,
    Tags,
    and_,
    not_,
    or_,
)


def check(api: runapi.Api) -> None:
    run = api.run("entity/project/run_id")
    assert_type(run, runapi.Run)
    assert_type(run.tags, list[str])
    assert_type(run.notes, str | None)
    assert_type(run.job_type, str | None)
    run.notes = "typed"
    run.group = None
    run.tags = ["a"]
    run.notes = 5  # type: ignore[assignment]
    run.tags = "a"  # type: ignore[assignment]
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


def check_filters(api: runapi.Api, when: datetime) -> None:
    # Accepted: each field with the values its W&B field holds.
    assert_type(Config("lr") > 0.01, Filter)
    assert_type(Config("lr") <= 1, Filter)
    assert_type(Config("model") == "resnet", Filter)
    assert_type(Config("flag") != True, Filter)  # noqa: E712
    assert_type(Config("opt.name").in_(["adam", "sgd"]), Filter)
    assert_type(Summary("acc") >= 0.9, Filter)
    assert_type(Summary("loss").exists(False), Filter)
    assert_type(State == "finished", Filter)
    assert_type(State != "running", Filter)
    assert_type(State.in_(["failed", "crashed"]), Filter)
    assert_type(Tags.contains("baseline"), Filter)
    assert_type(Tags.any_of(["a", "b"]), Filter)
    assert_type(Name.in_(["1a2b3c4d"]), Filter)
    assert_type(DisplayName.regex("^bert", ignore_case=True), Filter)
    assert_type(Group == "sweep-3", Filter)
    assert_type(JobType.not_in(["eval"]), Filter)
    assert_type(CreatedAt >= when, Filter)
    assert_type((State == "finished") & (Config("lr") > 0.01), Filter)
    assert_type((State == "failed") | ~Tags.contains("debug"), Filter)
    either = or_(Group == "a", Group == "b")
    assert_type(and_(State == "finished", either, not_(Name == "x")), Filter)
    assert_type(api.runs("e/p", filters=Config("lr") > 0.01), runapi.Runs)
    assert_type(api.runs("e/p", filters={"config.lr": {"$gt": 0.01}}), runapi.Runs)
    assert_type(runapi.State == "finished", runapi.Filter)

    # Rejected: each line is an error mypy reports (warn_unused_ignores proves it).
    _ = CreatedAt > "2026-01-01"  # type: ignore[operator]
    _ = CreatedAt <= 1700000000  # type: ignore[operator]
    _ = Config("lr") > [0.01]  # type: ignore[operator]
    api.runs("e/p", filters=Config("lr") == {"a": 1})  # type: ignore[arg-type]
    _ = Summary("acc") < None  # type: ignore[operator]
    State.in_(["finished", "done"])  # type: ignore[list-item]
    State.in_([5])  # type: ignore[list-item]
    Name.in_([1, 2])  # type: ignore[list-item]
    Tags.contains(3)  # type: ignore[arg-type]
    Tags.any_of([1])  # type: ignore[list-item]
    Group.exists("yes")  # type: ignore[arg-type]
    DisplayName.regex(3)  # type: ignore[arg-type]
    Config(1)  # type: ignore[arg-type]
    _ = (State == "finished") & {"state": "failed"}  # type: ignore[operator]
    # `State == 5` (or any non-state) is a plain bool to mypy, so it is rejected wherever a
    # filter is expected:
    api.runs("e/p", filters=State == 5)  # type: ignore[arg-type]
    api.runs("e/p", filters=State == "done")  # type: ignore[arg-type]
    _ = (State == 5) & (Config("lr") > 0.01)  # type: ignore[operator]
    and_(State == "bogus")  # type: ignore[arg-type]
    api.runs("e/p", filters="state=finished")  # type: ignore[arg-type]


def check_histories(runs: runapi.Runs) -> None:
    import polars
    import pyarrow

    assert_type(runs.histories(), pandas.DataFrame)
    assert_type(runs.histories(200, ["loss"], "_step", "pandas"), pandas.DataFrame)
    assert_type(runs.histories(samples=None, align=100), pandas.DataFrame)
    assert_type(runs.histories(keys=["loss"], align=[0.0, 10.0]), pandas.DataFrame)
    assert_type(runs.histories(format="polars"), polars.DataFrame)
    assert_type(runs.histories(samples=None, format="arrow"), pyarrow.Table)
    assert_type(runs.run_ids(), list[str])
    runs.histories(format="csv")  # type: ignore[call-overload]
    runs.histories(align="steps")  # type: ignore[arg-type]
