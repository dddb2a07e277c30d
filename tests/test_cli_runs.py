"""`runapi runs / history / files / download`: output, files written whole, exit codes."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pty
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import User
from seeding import close_apis, finish, log_history, make_api, new_run, steps

import runapi
from runapi_cli.main import main

__all__ = ["close_apis"]


def cli(user: User, *args: str) -> list[str]:
    return [*args, "--base-url", user.server.url, "--api-key", user.api_key, "--no-progress"]


@pytest.fixture
def project(user: User, tmp_path: Path) -> tuple[User, list[runapi.Run]]:
    api = make_api(user)
    runs = []
    for i in range(2):
        run = new_run(api, user, project="cli", run_id=f"clirun{i}")
        run.config.update({"lr": 0.1 * (i + 1), "opt": {"name": "adam"}})
        run.summary.update({"loss": 0.5 / (i + 1)})
        run.update()
        rows = steps(30)
        rows[3]["loss"] = math.nan
        log_history(user, run, rows)
        runs.append(run)
    finish(user, runs[0])
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "notes.json").write_text('{"a": 1}')
    (tmp_path / "up" / "model_v1.txt").write_text("weights")
    runs[0].upload_file(tmp_path / "up" / "notes.json", root=tmp_path / "up")
    runs[0].upload_file(tmp_path / "up" / "model_v1.txt", root=tmp_path / "up")
    return user, runs


def test_runs_table_csv_json(
    project: tuple[User, list[runapi.Run]], capsys: pytest.CaptureFixture[str]
) -> None:
    user, _ = project
    assert main(cli(user, "runs", f"{user.entity}/cli")) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["id", "name", "state", "created_at", "tags"]
    assert [line.split()[0] for line in table[1:]] == ["clirun0", "clirun1"]

    assert (
        main(cli(user, "runs", f"{user.entity}/cli", "--format", "csv", "--order=-created_at")) == 0
    )
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["id"] for r in rows] == ["clirun1", "clirun0"]
    assert rows[1]["config.lr"] == "0.1" and rows[1]["config.opt.name"] == "adam"

    filters = json.dumps({"config.lr": {"$gt": 0.15}})
    assert (
        main(cli(user, "runs", f"{user.entity}/cli", "--format", "json", "--filters", filters)) == 0
    )
    records = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in records] == ["clirun1"]
    assert records[0]["config"]["opt.name"] == "adam"
    assert records[0]["summary"]["loss"] == 0.25


def test_history_stdout_and_files(
    project: tuple[User, list[runapi.Run]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user, _ = project
    path = f"{user.entity}/cli/clirun0"
    assert main(cli(user, "history", path, "--keys", "loss", "--samples", "5")) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 5 and set(rows[0]) == {"loss", "_step"}

    out = tmp_path / "h.parquet"
    assert main(cli(user, "history", path, "--all", "--out", str(out))) == 0
    table = pq.read_table(out)
    assert table.num_rows == 30
    assert table.column("_step").to_pylist() == list(range(30))
    assert math.isnan(table.column("loss").to_pylist()[3])

    jsonl = tmp_path / "h.jsonl"
    assert main(cli(user, "history", path, "--all", "--keys", "acc", "--out", str(jsonl))) == 0
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(lines) == 30 and set(lines[0]) == {"_step", "acc"}

    csv_out = tmp_path / "h.csv"
    assert main(cli(user, "history", path, "--out", str(csv_out))) == 0
    assert csv_out.read_text().count("\n") == 31
    assert "NaN" in csv_out.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_files_and_download(
    project: tuple[User, list[runapi.Run]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user, _ = project
    path = f"{user.entity}/cli/clirun0"
    assert main(cli(user, "files", path, "--pattern", "*.json")) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["name", "size", "updated_at"]
    assert [line.split()[0] for line in listed[1:]] == ["notes.json"]

    target = tmp_path / "dl"
    assert main(cli(user, "download", path, "--pattern", "model_?1.txt", "--dir", str(target))) == 0
    assert capsys.readouterr().out.strip() == str(target / "model_v1.txt")
    assert (target / "model_v1.txt").read_text() == "weights"

    assert main(cli(user, "download", path, "--dir", str(target))) == 0
    captured = capsys.readouterr()
    assert "skipped model_v1.txt" in captured.err
    assert (target / "notes.json").read_text() == '{"a": 1}'


def test_errors_are_one_line_with_exit_codes(
    user: User, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(cli(user, "history", f"{user.entity}/cli/nope")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RunNotFoundError" in err and "Traceback" not in err

    assert main(cli(user, "history", "not-a-path")) == 2
    assert "malformed run path" in capsys.readouterr().err

    assert main(cli(user, "runs", f"{user.entity}/cli", "--filters", "{bad")) == 2
    assert "--filters is not valid JSON" in capsys.readouterr().err

    assert main(cli(user, "history", f"{user.entity}/cli/x", "--out", "x.txt")) == 2
    assert "--out must end in" in capsys.readouterr().err

    bad_key = [
        "runs",
        f"{user.entity}/cli",
        "--base-url",
        user.server.url,
        "--api-key",
        "local-" + "0" * 40,
    ]
    assert main(bad_key) == 1
    assert "AuthenticationError" in capsys.readouterr().err

    assert main([*cli(user, "history", f"{user.entity}/cli/nope"), "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exc:
        main(["history"])
    assert exc.value.code == 2


def test_credentials_come_from_the_environment(
    project: tuple[User, list[runapi.Run]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user, _ = project
    monkeypatch.setenv("WANDB_API_KEY", user.api_key)
    monkeypatch.setenv("WANDB_BASE_URL", user.server.url)
    assert main(["runs", f"{user.entity}/cli", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    monkeypatch.delenv("WANDB_API_KEY")
    monkeypatch.setenv("HOME", "/nonexistent")
    assert main(["runs", f"{user.entity}/cli"]) == 1
    err = capsys.readouterr().err
    host = user.server.url.split("//")[1].split(":")[0]
    assert err == (
        "runapi: error: no W&B API key found: pass --api-key KEY, set WANDB_API_KEY, or add "
        f"'machine {host} login user password KEY' to ~/.netrc (for a local server, "
        "`runapi users create NAME` prints a key)\n"
    )
    assert "runapi.Api(" not in err


@pytest.mark.parametrize(
    "command", ["runs", "history", "files", "download", "export", "schema", "serve"]
)
def test_every_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, "check", "--help"] if command == "schema" else [command, "--help"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "example" in capsys.readouterr().out


def test_a_reader_that_stops_early_ends_the_command_quietly(user: User) -> None:
    # `runapi history ... | head -1`: the reader closes the pipe after one line.
    api = make_api(user)
    run = new_run(api, user, project="cli", run_id="pipe")
    log_history(user, run, steps(3000))
    command = [sys.executable, "-m", "runapi_cli", "history", f"{user.entity}/cli/pipe", "--all"]
    proc = subprocess.Popen(
        cli(user, *command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"_step")
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert err == b""


def _screen(raw: bytes) -> list[str]:
    """The lines a terminal shows for `raw`: `\\r` returns to column 0 and overwrites."""
    lines = []
    for chunk in raw.decode().replace("\r\n", "\n").split("\n"):
        shown = ""
        for part in chunk.split("\r"):
            shown = part + shown[len(part) :]
        lines.append(shown.rstrip())
    return lines


def test_progress_and_printed_lines_do_not_run_together_on_a_terminal(
    user: User, tmp_path: Path
) -> None:
    api = make_api(user)
    run = new_run(api, user, project="cli", run_id="tty")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / f"f{i}.txt").write_text("x" * 1000)
        run.upload_file(src / f"f{i}.txt", root=src)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "runapi_cli", "download", f"{user.entity}/cli/tty"]
    argv = [*command, "--dir", str(out), "--base-url", user.server.url, "--api-key", user.api_key]
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "RUNAPI_PROGRESS"}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    raw = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    assert b"download" in raw and b"\r" in raw  # the bar was drawn
    screen = _screen(raw)
    for i in range(4):
        assert str(out / f"f{i}.txt") in screen, screen
