"""`runapi schema check` against the live server, and against a drifted schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, User
from graphql import build_schema

from runapi_cli.main import main
from runapi_cli.schema_check import check, introspect, schema_data


def test_live_server_matches(user: User, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["schema", "check", "--url", user.server.url, "--api-key", user.api_key]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "breaking changes from schema.graphql: 0" in out
    operations = len(
        [p for p in (ROOT / "queries").glob("*.graphql") if p.name != "fragments.graphql"]
    )
    assert f"operations valid against the live schema: {operations}/{operations}" in out
    assert out.rstrip().endswith("OK")


def test_shipped_data_is_the_project_files() -> None:
    data = schema_data()
    assert data.joinpath("schema.graphql").read_text() == (ROOT / "schema.graphql").read_text()
    assert data.joinpath("queries").joinpath("get_run.graphql").is_file()


def test_drift_is_reported(user: User, tmp_path: Path) -> None:
    live = introspect(user.server.url, user.api_key)
    # A server that lost Run.historyKeys and Project.runCount: breaking, and operations fail.
    text = (ROOT / "schema.graphql").read_text()
    drifted_text = text.replace("  historyKeys", "  removedHistoryKeys", 1).replace(
        "  runCount", "  removedRunCount", 1
    )
    assert drifted_text != text
    report = check(build_schema(drifted_text))
    assert not report.ok
    assert any("historyKeys" in line for line in report.breaking)
    assert "get_run_history_keys.graphql" in report.invalid
    assert "count_runs.graphql" in report.invalid
    assert check(live).ok


def test_unreachable_server_is_one_line(user: User, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["schema", "check", "--url", "http://127.0.0.1:9", "--api-key", user.api_key]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("runapi: error: cannot reach") and err.count("\n") == 1
