"""History and runs as pyarrow tables and polars frames; the install hint when missing."""

from __future__ import annotations

import math
import sys

import polars
import pyarrow
import pytest
from conftest import User
from seeding import close_apis, log_history, make_api, new_run, steps

import runapi
from runapi.frames import ColumnBuilder, require

__all__ = ["close_apis"]


def test_history_scan_to_arrow_and_polars(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="frames")
    rows = steps(25)
    rows[2]["loss"] = math.inf
    rows[4]["note"] = "text"
    rows[5]["nested"] = {"a": 1}
    log_history(user, run, rows)
    table = run.scan_history(page_size=10).to_arrow(progress=False)
    assert isinstance(table, pyarrow.Table)
    assert table.num_rows == 25
    assert table.column("_step").to_pylist() == list(range(25))
    assert table.column("loss").to_pylist()[2] == math.inf
    assert table.column("note").to_pylist()[4] == "text"
    assert table.column("note").to_pylist()[0] is None
    assert table.column("nested").to_pylist()[5] == {"a": 1}

    frame = run.scan_history(keys=["acc"]).to_polars(progress=False)
    assert isinstance(frame, polars.DataFrame)
    assert frame.height == 25 and set(frame.columns) == {"_step", "acc"}


def test_runs_to_arrow_and_polars(user: User) -> None:
    api = make_api(user)
    for i in range(3):
        run = new_run(api, user, project="frames-runs", run_id=f"fr{i}")
        run.config.update({"lr": i / 10, "opt": {"beta": 0.9}})
        run.summary["acc"] = i * 0.3
        run.update()
    table = api.runs(f"{user.entity}/frames-runs").to_arrow(progress=False)
    assert table.column("id").to_pylist() == ["fr0", "fr1", "fr2"]
    assert table.column("config.opt.beta").to_pylist() == [0.9] * 3
    frame = api.runs(f"{user.entity}/frames-runs").to_polars(progress=False)
    assert frame["summary.acc"].to_list() == pytest.approx([0.0, 0.3, 0.6])
    empty = api.runs(f"{user.entity}/frames-runs", filters={"config.lr": 99}).to_arrow()
    assert empty.num_rows == 0 and "id" in empty.column_names


def test_mixed_column_becomes_json_text() -> None:
    builder = ColumnBuilder()
    builder.add([{"v": 1}, {"v": "x"}, {"w": [1, 2]}])
    table = builder.to_arrow()
    assert table.column("v").to_pylist() == ["1", '"x"', None]
    assert table.column("w").to_pylist() == [None, None, [1, 2]]


def test_missing_extra_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "polars", None)  # import polars -> ImportError
    with pytest.raises(runapi.MissingDependencyError, match=r"pip install 'runapi\[polars\]'"):
        require("polars", "polars")
    with pytest.raises(ImportError):
        require("polars", "polars")
