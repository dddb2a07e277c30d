"""`runapi export`: every run to parquet, whole or not at all, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import User
from seeding import close_apis, log_history, make_api, new_run, steps

from runapi_cli.main import main

__all__ = ["close_apis"]


def test_export_then_resume(user: User, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = make_api(user)
    for i in range(3):
        run = new_run(api, user, project="exp", run_id=f"exp{i}")
        run.config["seed"] = i
        run.update()
        log_history(user, run, steps(10 * (i + 1)))
    out = tmp_path / "export"
    argv = [
        "export",
        f"{user.entity}/exp",
        "--out",
        str(out),
        "--no-progress",
        "--base-url",
        user.server.url,
        "--api-key",
        user.api_key,
    ]
    assert main(argv) == 0
    assert "3 exported, 0 already complete" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["exp0", "exp1", "exp2"]
    info = json.loads((out / "exp1" / "run.json").read_text())
    assert info["config"] == {"seed": 1} and info["id"] == "exp1"
    table = pq.read_table(out / "exp2" / "history.parquet")
    assert table.num_rows == 30 and table.column("_step").to_pylist() == list(range(30))
    manifest = json.loads((out / "exp2" / "manifest.json").read_text())
    assert manifest["rows"] == 30

    # An interrupted export left a partial dir and lost a manifest: both are redone.
    (out / "exp0" / "manifest.json").unlink()
    (out / ".exp9.partial").mkdir()
    changed = api.run(f"{user.entity}/exp/exp2")
    log_history(user, changed, steps(5, start=30), offset=30)
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "2 exported, 1 already complete" in captured.out
    assert "skipped exp1" in captured.err
    assert pq.read_table(out / "exp2" / "history.parquet").num_rows == 35
    assert (out / "exp0" / "manifest.json").exists()

    assert main(argv) == 0
    assert "0 exported, 3 already complete" in capsys.readouterr().out


def test_export_of_a_missing_project_fails_cleanly(
    user: User, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "export",
        f"{user.entity}/nothing",
        "--out",
        str(tmp_path / "o"),
        "--no-progress",
        "--base-url",
        user.server.url,
        "--api-key",
        user.api_key,
    ]
    assert main(argv) == 1
    assert "ProjectNotFoundError" in capsys.readouterr().err
