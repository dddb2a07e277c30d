"""api.runs(): lazy pagination, len via runCount, indexing, filters, order, DataFrame."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import User
from seeding import close_apis, make_api, new_run

import runapi

__all__ = ["close_apis"]


def _seed(api: runapi.Api, user: User, project: str, n: int) -> list[runapi.Run]:
    runs = []
    for i in range(n):
        run = new_run(api, user, project=project, run_id=f"run{i:05d}")
        run.config.update({"lr": i / 10, "opt": {"name": "adam" if i % 2 else "sgd"}})
        run.summary["loss"] = 1.0 / (i + 1)
        run.tags = ["even"] if i % 2 == 0 else ["odd"]
        run.update()
        runs.append(run)
    return runs


def test_iterate_len_index_slice(user: User) -> None:
    api = make_api(user)
    created = _seed(api, user, "list", 7)
    runs = api.runs(f"{user.entity}/list", per_page=3)
    assert isinstance(runs, runapi.Paginator)
    assert len(runs) == 7
    ids = [r.id for r in runs]
    assert ids == [r.id for r in created]  # +created_at
    assert runs[0].id == created[0].id
    assert runs[5].id == created[5].id
    assert runs[-1].id == created[-1].id
    assert [r.id for r in runs[2:5]] == [r.id for r in created[2:5]]
    with pytest.raises(IndexError):
        runs[7]
    # a second iteration reuses fetched pages and yields the same runs
    assert [r.id for r in runs] == ids
    assert runs[0].config["lr"] == 0.0


def test_order_and_filters(user: User) -> None:
    api = make_api(user)
    created = _seed(api, user, "filt", 5)
    path = f"{user.entity}/filt"
    newest_first = [r.id for r in api.runs(path, order="-created_at")]
    assert newest_first == [r.id for r in reversed(created)]
    odd = api.runs(path, filters={"tags": "odd"})
    assert len(odd) == 2
    assert sorted(r.id for r in odd) == ["run00001", "run00003"]
    big = api.runs(path, filters={"config.lr": {"$gte": 0.3}}, per_page=1)
    assert [r.id for r in big] == ["run00003", "run00004"]
    by_loss = api.runs(path, order="+summary_metrics.loss")
    assert next(r.id for r in by_loss) == "run00004"


def test_empty_and_missing_project(user: User) -> None:
    api = make_api(user)
    runs = api.runs(f"{user.entity}/nothing-here")
    with pytest.raises(runapi.NotFoundError):
        len(runs)
    new_run(api, user, project="one")
    none = api.runs(f"{user.entity}/one", filters={"state": "finished"})
    assert len(none) == 0
    assert list(none) == []
    assert none.to_pandas().empty


def test_to_pandas(user: User) -> None:
    api = make_api(user)
    _seed(api, user, "frame", 3)
    df = api.runs(f"{user.entity}/frame").to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:5]) == ["id", "name", "state", "created_at", "tags"]
    assert len(df) == 3
    assert "config.lr" in df.columns
    assert "config.opt.name" in df.columns
    assert "summary.loss" in df.columns
    assert list(df["config.opt.name"]) == ["sgd", "adam", "sgd"]
    assert df["tags"][0] == ["even"]


def test_bad_arguments(user: User) -> None:
    api = make_api(user)
    with pytest.raises(ValueError, match="per_page"):
        api.runs(f"{user.entity}/p", per_page=0)
    with pytest.raises(ValueError, match="filters"):
        api.runs(f"{user.entity}/p", filters="state=finished")  # type: ignore[arg-type]


def test_create_run_with_defaults_and_w_and_b_form(user: User) -> None:
    api = make_api(user)
    run = api.create_run()
    assert run.entity == user.entity and run.project == "uncategorized"
    assert re.fullmatch(r"[a-z0-9]{8}", run.id), run.id
    assert run.state == "running"
    again = api.run(f"{user.entity}/uncategorized/{run.id}")
    assert again.id == run.id and again.storage_id == run.storage_id
    same = runapi.Run.create(api, run_id="wbform01", project="made", state="finished")
    assert (same.path, same.state) == ([user.entity, "made", "wbform01"], "finished")
    with pytest.raises(ValueError, match="state must be one of"):
        api.create_run(state="done")
    with pytest.raises(ValueError, match="project must be a non-empty str"):
        api.create_run(project="a/b")
