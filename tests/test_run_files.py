"""Run files: upload_file, files(), file(), download(), metadata."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import httpx
import pytest
from conftest import User
from seeding import close_apis, make_api, new_run, stream

import runapi
from runapi_cli.main import main

__all__ = ["close_apis"]


class Recorder(httpx.BaseTransport):
    """Passes requests on and records (method, url, has Authorization)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.seen: list[tuple[str, str, bool]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, str(request.url), "authorization" in request.headers))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_upload_list_download(user: User, tmp_path: Path) -> None:
    recorder = Recorder()
    api = make_api(user, transport=recorder)
    run = new_run(api, user, project="files")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "model.txt").write_text("weights")
    (src / "sub" / "plot.json").write_text('{"x": 1}')
    uploaded = run.upload_file(src / "model.txt", root=src)
    assert isinstance(uploaded, runapi.File)
    assert uploaded.name == "model.txt"
    assert uploaded.size == len("weights")
    run.upload_file(str(src / "sub" / "plot.json"), root=str(src))
    puts = [s for s in recorder.seen if s[0] == "PUT"]
    assert len(puts) == 2 and not any(has_auth for _, _, has_auth in puts)

    files = run.files(per_page=1)
    assert isinstance(files, runapi.Paginator)
    assert len(files) == 2
    names = sorted(f.name for f in files)
    assert names == ["model.txt", "sub/plot.json"]
    assert [f.name for f in run.files(names=["sub/plot.json"])] == ["sub/plot.json"]
    assert [f.name for f in run.files(pattern="%.json")] == ["sub/plot.json"]

    f = run.file("model.txt")
    assert f.md5 is not None
    assert f.mimetype == "text/plain"
    assert f.updated_at is not None
    assert f.direct_url.startswith("http")
    assert f.url is None or f.url.startswith("http")
    assert f.read_bytes() == b"weights"
    out = tmp_path / "out"
    path = f.download(root=out)
    assert path == out / "model.txt"
    assert path.read_text() == "weights"
    with pytest.raises(FileExistsError, match="replace"):
        f.download(root=out)
    path.write_text("changed")
    f.download(root=out, replace=True)
    assert path.read_text() == "weights"
    nested = run.file("sub/plot.json").download(root=out)
    assert json.loads(nested.read_text()) == {"x": 1}
    # the key goes only to the API host
    gets = [s for s in recorder.seen if s[0] == "GET"]
    assert gets
    for _method, url, has_auth in gets:
        if has_auth:
            assert url.startswith(user.server.url)


def test_missing_file(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="files")
    with pytest.raises(runapi.RunFileNotFoundError, match=r"nope\.txt"):
        run.file("nope.txt")
    assert len(run.files()) == 0
    with pytest.raises(FileNotFoundError):
        run.upload_file(tmp_path / "absent.txt")
    outside = tmp_path / "x.txt"
    outside.write_text("x")
    with pytest.raises(ValueError, match="root"):
        run.upload_file(outside, root=tmp_path / "elsewhere")


def test_metadata(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="meta")
    assert run.metadata is None
    meta = {"host": "gpu-1", "python": "3.11.9", "program": "train.py"}
    (tmp_path / "wandb-metadata.json").write_text(json.dumps(meta))
    run.upload_file(tmp_path / "wandb-metadata.json", root=tmp_path)
    assert run.metadata == meta
    fresh = api.run("/".join(run.path))
    assert fresh.metadata == meta
    assert fresh.metadata is fresh.metadata  # cached


def test_streamed_file_is_listed(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="logs")
    stream(user, run, {"output.log": ["line 1", "line 2"]}).raise_for_status()
    assert "output.log" in [f.name for f in run.files()]
    content = run.file("output.log").read_bytes()
    assert b"line 1" in content


def test_md5_matches_content(user: User, tmp_path: Path) -> None:
    import base64

    api = make_api(user)
    run = new_run(api, user, project="md5")
    data = b"abc" * 1000
    (tmp_path / "blob.bin").write_bytes(data)
    f = run.upload_file(tmp_path / "blob.bin", root=tmp_path)
    digest = hashlib.md5(data).digest()
    assert f.md5 in (base64.b64encode(digest).decode(), digest.hex())


def test_glob_patterns_select_exactly_what_the_glob_means(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="files")
    src = tmp_path / "src"
    (src / "media").mkdir(parents=True)
    for name in ("a.json", "a_json", "media/x.png", "media/y.PNG", "b.jsonl"):
        (src / name).write_text(name)
        run.upload_file(src / name, root=src)
    assert sorted(f.name for f in run.files(pattern="*.json")) == ["a.json"]
    assert sorted(f.name for f in run.files(pattern="media/*.png")) == ["media/x.png"]
    assert sorted(f.name for f in run.files(pattern="?.json*")) == ["a.json", "b.jsonl"]
    # Without * or ?, the pattern is W&B's SQL LIKE, as before (`_` matches any character).
    assert sorted(f.name for f in run.files(pattern="a_json")) == ["a.json", "a_json"]
    # LIKE is case-insensitive on W&B (MySQL) and here (SQLite); a glob is not.
    assert sorted(f.name for f in run.files(pattern="%.png")) == ["media/x.png", "media/y.PNG"]


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_downloaded_and_exported_files_follow_the_umask(
    user: User, tmp_path: Path, umask: int
) -> None:
    api = make_api(user)
    run = new_run(api, user, project="files")
    (tmp_path / "m.txt").write_text("weights")
    run.upload_file(tmp_path / "m.txt", root=tmp_path)
    old = os.umask(umask)
    try:
        path = run.file("m.txt").download(root=tmp_path / "down")
        csv_out = tmp_path / "h.csv"
        server = ["--base-url", user.server.url, "--api-key", user.api_key, "--no-progress"]
        code = main(["history", "/".join(run.path), "--all", "--out", str(csv_out), *server])
    finally:
        os.umask(old)
    assert code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(csv_out.stat().st_mode) == 0o666 & ~umask
