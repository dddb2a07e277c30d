"""`runapi artifact put` and `runapi artifact download`: output, files, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import User
from seeding import close_apis, make_api

from runapi_cli.main import main

__all__ = ["close_apis"]

TREE = {
    "a.txt": b"alpha\n",
    "sub/dir/b.bin": bytes(range(256)) * 64,
    "sub/empty": b"",
    "ü/ñ.txt": "ünïcödé".encode(),
}


def cli(user: User, *args: str) -> list[str]:
    return [*args, "--base-url", user.server.url, "--api-key", user.api_key, "--no-progress"]


def write_tree(root: Path) -> Path:
    for name, data in TREE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_put_then_download(user: User, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_tree(tmp_path / "src")
    put = ["artifact", "put", str(source), "--project", "clip", "--name", "ds", "--type", "data"]
    assert main(cli(user, *put, "--alias", "best")) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{user.entity}/clip/ds:v0\n"
    assert "4 file(s)" in captured.err

    artifact = make_api(user).artifact(f"{user.entity}/clip/ds:best")
    assert artifact.type == "data"
    assert artifact.file_count == len(TREE)
    assert sorted(f.name for f in artifact.files()) == sorted(TREE)

    root = tmp_path / "down"
    get = ["artifact", "download", f"{user.entity}/clip/ds:latest", "--root", str(root)]
    assert main(cli(user, *get)) == 0
    assert capsys.readouterr().out == f"{root}\n"
    assert read_tree(root) == TREE

    # the same contents again: the same version
    assert main(cli(user, *put)) == 0
    assert capsys.readouterr().out == f"{user.entity}/clip/ds:v0\n"


def test_download_default_root(
    user: User, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_tree(tmp_path / "src")
    put = ["artifact", "put", str(source), "--project", "clid", "--name", "m", "--type", "model"]
    assert main(cli(user, *put)) == 0
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert main(cli(user, "artifact", "download", f"{user.entity}/clid/m:v0")) == 0
    assert capsys.readouterr().out == "artifacts/m:v0\n"
    assert read_tree(tmp_path / "artifacts" / "m:v0") == TREE


def test_exit_codes(user: User, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = ["artifact", "download", f"{user.entity}/nope/x:v0", "--root", str(tmp_path / "o")]
    assert main(cli(user, *missing)) == 1
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

    assert main(cli(user, "artifact", "download", "not-a-path")) == 2
    assert "malformed artifact path" in capsys.readouterr().err

    no_dir = ["artifact", "put", str(tmp_path / "none"), "--project", "p", "--name", "n"]
    assert main(cli(user, *no_dir)) == 1
    assert "no such directory" in capsys.readouterr().err

    (tmp_path / "empty").mkdir()
    empty = ["artifact", "put", str(tmp_path / "empty"), "--project", "p", "--name", "n"]
    assert main(cli(user, *empty)) == 1
    assert "has no files" in capsys.readouterr().err

    bad_name = ["artifact", "put", str(write_tree(tmp_path / "s")), "--project", "p"]
    assert main(cli(user, *bad_name, "--name", "a/b")) == 2
    assert "artifact name" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exited:
        main(["artifact", "put", str(tmp_path / "s")])
    assert exited.value.code == 2
    assert "--project" in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["artifact"], ["artifact", "put"], ["artifact", "download"]):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--help"])
        assert exited.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out
        assert "runapi artifact" in out
