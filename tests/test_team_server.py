"""Several `runapi serve` processes on one database and one `--storage` dir are one server.

Two spawned processes (different ports) share the database (`databases.server_database_url`:
the data dir's SQLite file today) and a storage dir apart from the data dir; the real
wandb SDK (the pinned version and the latest, see tests/sdk/venvs.py) logs a run with
history and a file, and an artifact, through process A, and `wandb.Api` (and runapi)
read them back through process B: every row, every file byte-exact, the artifact
downloaded byte-exact. URLs signed by one process are accepted by the other, whether the
key comes from `--signing-key-file`, `RUNAPI_SIGNING_KEY` or the storage dir's own
`signing.key`; a revoked key stops working on every process within
`auth.KNOWN_KEY_SECONDS`; a data dir of the old layout (files under the data dir) is read
as before, and read from a storage dir once its files are moved there.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from conftest import ROOT, Server, User, serve_process
from databases import serve_database_args, server_database_url
from sdk_env import make_sdk_env
from server_stream import PROJECT, create_run
from test_sdk_logging import (
    VERSIONS,
    ReadBack,
    SdkEnv,
    both,
    check_files,
    check_history,
    check_wandb_scan_history,
    expected,
    loads,
)
from test_server_files import create_files, nodes, put, upload

from runapi_server.auth import KNOWN_KEY_SECONDS
from runapi_server.state import SECRET_FILE
from runapi_server.storage.database import URL_FILE

LOG_ARTIFACT = ROOT / "tests" / "sdk" / "log_artifact.py"
ARTIFACT_DOWNLOAD = ROOT / "tests" / "sdk" / "artifact_download.py"
ARTIFACT = "team-dataset"
KEY_HEX = secrets.token_hex(32)


@dataclass(frozen=True)
class Team:
    a: Server
    b: Server
    data_dir: Path
    storage: Path


@contextmanager
def serve(
    data_dir: Path,
    *options: str,
    name: str,
    database: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """`runapi serve` on a free port with `options`, in its own process (log beside the
    data dir)."""
    options += tuple(serve_database_args(database))
    with serve_process(data_dir, *options, log=data_dir.parent / f"serve-{name}.log", env=env) as s:
        yield s


@contextmanager
def team_of(root: Path, a_options: list[str], b_options: list[str], **b_env: str) -> Iterator[Team]:
    """Processes A and B on one database and one storage dir under `root` (A is up
    before B starts)."""
    data_dir, storage = root / "data", root / "storage"
    data_dir.mkdir()
    database = server_database_url()
    with ExitStack() as stack:
        a = stack.enter_context(
            serve(data_dir, "--storage", str(storage), *a_options, name="a", database=database)
        )
        b = stack.enter_context(
            serve(
                data_dir,
                "--storage",
                str(storage),
                *b_options,
                name="b",
                database=database,
                env=b_env,
            )
        )
        yield Team(a, b, data_dir, storage)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """A takes the key from `--signing-key-file`, B the same key from the environment."""
    root = tmp_path_factory.mktemp("team")
    key_file = root / "signing-key.txt"
    key_file.write_text(KEY_HEX + "\n")
    with team_of(root, ["--signing-key-file", str(key_file)], [], RUNAPI_SIGNING_KEY=KEY_HEX) as t:
        yield t


def user_on(team: Team, name: str) -> tuple[User, User]:
    """A new user, as seen through A and through B (one key)."""
    key = team.a.create_user(name)
    return User(name, key, team.a), User(name, key, team.b)


def on(server: Server, url: str) -> str:
    """`url` (made by one process) pointed at `server` instead."""
    target = urlsplit(server.url)
    return urlunsplit(urlsplit(url)._replace(scheme=target.scheme, netloc=target.netloc))


def stored_file(user: User, run: str, name: str) -> httpx.Response:
    with user.http() as client:
        return client.get(f"/storage/files/{user.entity}/{PROJECT}/{run}/{name}")


# --------------------------------------------------------------------------- the real SDK


@dataclass(frozen=True)
class Logged:
    read: ReadBack  # the run logged through A, read through B
    dataset: Path  # the directory logged as an artifact through A
    downloaded: dict[str, Any]  # artifact_download.py's answer through B
    download_root: Path


def dataset_dir(work: Path) -> Path:
    directory = work / "dataset"
    (directory / "nested").mkdir(parents=True)
    (directory / "weights.bin").write_bytes(secrets.token_bytes(300_000))
    (directory / "nested" / "labels.txt").write_text("cat\ndog\nüñï\n", encoding="utf-8")
    (directory / "empty.txt").write_bytes(b"")
    return directory


@pytest.fixture(scope="module", params=list(VERSIONS))
def logged(
    request: pytest.FixtureRequest, team: Team, tmp_path_factory: pytest.TempPathFactory
) -> Logged:
    return log_through_a_read_through_b(request.param, team.a, team.b, tmp_path_factory, "team")


def log_through_a_read_through_b(
    tag: str, a: Server, b: Server, tmp_path_factory: pytest.TempPathFactory, prefix: str
) -> Logged:
    """wandb `tag` logs a run and an artifact through server A; its Api reads the run back
    and downloads the artifact through server B."""
    base = make_sdk_env(tag, VERSIONS[tag], a, tmp_path_factory, prefix)
    through_a = SdkEnv(base.tag, base.version, base.python, base.user, base.work)
    reader = User(base.user.name, base.user.api_key, b)
    through_b = SdkEnv(base.tag, base.version, base.python, reader, base.work)

    scenario = through_a.train("finished")
    assert scenario.returncode == 0, scenario.output[-4000:]
    dataset = dataset_dir(base.work)
    out = base.work / "logged-artifact.json"
    code, _, output = through_a.run(
        LOG_ARTIFACT, expected.PROJECT, "artifact-run", ARTIFACT, str(dataset), "team", str(out)
    )
    assert code == 0, output[-4000:]

    read = through_b.read_back(scenario)
    root = base.work / "downloaded"
    answer = base.work / "downloaded-artifact.json"
    path = f"{reader.entity}/{expected.PROJECT}/{ARTIFACT}:team"
    code, _, output = through_b.run(ARTIFACT_DOWNLOAD, path, str(root), str(answer))
    assert code == 0, f"wandb {base.version} could not download {path} from B:\n{output[-4000:]}"
    return Logged(read, dataset, loads(answer.read_text()), root)


def test_a_run_logged_through_a_reads_back_through_b(logged: Logged) -> None:
    read = logged.read
    assert both(read, "state") == "finished"
    check_history(read, range(expected.STEPS))
    check_wandb_scan_history(read)  # 0.31 reads B's parquet exports (written by A)
    check_files(read)


def test_an_artifact_logged_through_a_downloads_byte_exact_through_b(logged: Logged) -> None:
    sent = {
        p.relative_to(logged.dataset).as_posix(): p.read_bytes()
        for p in logged.dataset.rglob("*")
        if p.is_file()
    }
    assert logged.downloaded["files"] == {name: len(data) for name, data in sent.items()}
    root = Path(logged.downloaded["root"])
    got = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert got == sent


def test_every_stored_byte_lives_in_the_storage_dir(team: Team, logged: Logged) -> None:
    stray = [
        p.name
        for p in team.data_dir.iterdir()
        if not p.name.startswith("runapi.sqlite3") and p.name != URL_FILE
    ]
    assert stray == []  # the data dir holds the database (or, with PostgreSQL, its URL) alone
    kinds = {p.name for p in (team.storage / "files").iterdir()}
    assert {"artifacts", "history-exports"} <= kinds
    assert any(name.isdigit() for name in kinds)  # a run's files
    assert not (team.storage / SECRET_FILE).exists()  # the key is the configured one


# --------------------------------------------------------------------------- signing


def check_urls_cross(team: Team, name: str) -> None:
    """An upload URL signed by A is accepted by B, a download URL signed by B by A; a
    URL with another signature is refused by both."""
    through_a, through_b = user_on(team, name)
    run = create_run(through_a)
    signed_by_a = create_files(through_a, run, ["notes.txt"])
    url = signed_by_a["files"][0]["uploadUrl"]
    assert url.startswith(team.a.url)
    response = put(on(team.b, url), b"sent to B", signed_by_a["uploadHeaders"])
    assert response.status_code == 200, response.text
    (node,) = nodes(through_b, run)
    assert node["directUrl"].startswith(team.b.url)
    assert httpx.get(on(team.a, node["directUrl"]), timeout=30).content == b"sent to B"
    parts = urlsplit(node["directUrl"])
    query = dict(parse_qsl(parts.query))
    query["signature"] = "0" * len(query["signature"])
    forged = urlunsplit(parts._replace(query=urlencode(query)))
    for server in (team.a, team.b):
        assert httpx.get(on(server, forged), timeout=30).status_code == 403


def test_a_url_signed_by_one_process_is_accepted_by_the_other(team: Team) -> None:
    check_urls_cross(team, "signer")


def test_processes_without_a_configured_key_share_the_storage_dirs_key(tmp_path: Path) -> None:
    with team_of(tmp_path, [], []) as t:
        check_urls_cross(t, "sharer")
        assert len((t.storage / SECRET_FILE).read_bytes()) == 32
        assert not (t.data_dir / SECRET_FILE).exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ab" * 31, "holds a 31-byte key; at least 32 bytes (64 hex digits) are needed"),
        ("not a key!", "is neither hex nor base64 text"),
        ("", "is empty"),
    ],
)
def test_a_bad_signing_key_is_refused_before_serving(
    tmp_path: Path, text: str, message: str
) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(text)
    base = [sys.executable, "-m", "runapi_cli", "serve", "--port", "0"]
    base += ["--data-dir", str(tmp_path / "data")]
    from_file = subprocess.run(
        [*base, "--signing-key-file", str(key_file)], capture_output=True, text=True, timeout=60
    )
    assert from_file.returncode == 1
    assert f"signing key file {key_file} {message}" in from_file.stderr
    from_env = subprocess.run(
        base,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "RUNAPI_SIGNING_KEY": text},
    )
    assert from_env.returncode == 1
    assert f"RUNAPI_SIGNING_KEY {message}" in from_env.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made


# --------------------------------------------------------------------------- auth


def test_a_revoked_key_stops_working_on_every_process(team: Team) -> None:
    from runapi_server.users import revoke

    through_a, through_b = user_on(team, "leaver")
    run = create_run(through_a)
    upload(through_a, run, "notes.txt", b"mine")
    for user in (through_a, through_b):  # both processes now hold the key as known
        assert stored_file(user, run, "notes.txt").content == b"mine"
    revoke(team.data_dir, "leaver")
    time.sleep(KNOWN_KEY_SECONDS + 0.5)
    for user in (through_a, through_b):
        assert stored_file(user, run, "notes.txt").status_code == 401


# --------------------------------------------------------------------------- layouts


def test_an_old_data_dir_is_read_in_place_and_from_a_storage_dir(tmp_path: Path) -> None:
    data_dir, storage = tmp_path / "data", tmp_path / "storage"
    data_dir.mkdir()
    with serve(data_dir, name="old") as old:
        user = User("keeper", old.create_user("keeper"), old)
        run = create_run(user)
        upload(user, run, "notes.txt", b"kept")
        (node,) = nodes(user, run)
    assert (data_dir / "files").is_dir() and (data_dir / SECRET_FILE).is_file()
    with serve(data_dir, name="again") as again:  # no --storage: the data dir, as before
        assert stored_file(User("keeper", user.api_key, again), run, "notes.txt").content == b"kept"
        assert httpx.get(on(again, node["directUrl"]), timeout=30).content == b"kept"
    storage.mkdir()
    for name in ("files", SECRET_FILE):
        shutil.move(data_dir / name, storage / name)
    with serve(data_dir, "--storage", str(storage), name="moved") as moved:
        mover = User("keeper", user.api_key, moved)
        assert stored_file(mover, run, "notes.txt").content == b"kept"
        assert httpx.get(on(moved, node["directUrl"]), timeout=30).content == b"kept"
    assert not (data_dir / "files").exists() and not (data_dir / SECRET_FILE).exists()


def test_signed_urls_point_at_the_public_url(tmp_path: Path) -> None:
    """Behind a load balancer every process hands out the balancer's URL."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    balancer = "https://runapi.example.com:8443"
    with serve(data_dir, "--public-url", balancer + "/", name="public") as server:
        user = User("public", server.create_user("public"), server)
        run = create_run(user)
        url = create_files(user, run, ["notes.txt"])["files"][0]["uploadUrl"]
        assert url.startswith(f"{balancer}/storage/upload/public/{PROJECT}/{run}/notes.txt?")
        assert put(on(server, url), b"via the balancer").status_code == 200


def test_a_bad_public_url_is_a_usage_error(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "runapi_cli", "serve", "--data-dir", str(tmp_path)]
    done = subprocess.run(
        [*command, "--public-url", "runapi.example.com"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "not an http(s) base URL: 'runapi.example.com'" in done.stderr


def test_worker_processes_take_the_storage_and_key_settings(tmp_path: Path) -> None:
    """`--workers` hands the storage dir (here from `RUNAPI_STORAGE`) and the key file on
    to every worker: files land in the storage dir and no worker makes its own key."""
    data_dir, storage, key_file = tmp_path / "data", tmp_path / "storage", tmp_path / "key.b64"
    data_dir.mkdir()
    key_file.write_text(base64.b64encode(secrets.token_bytes(48)).decode())
    options = ["--workers", "2", "--signing-key-file", str(key_file)]
    with serve(data_dir, *options, name="workers", env={"RUNAPI_STORAGE": str(storage)}) as server:
        user = User("worker", server.create_user("worker"), server)
        runs = [create_run(user) for _ in range(4)]
        for run in runs:
            upload(user, run, "notes.txt", run.encode())
        for run in runs:
            (node,) = nodes(user, run)
            assert httpx.get(node["directUrl"], timeout=30).content == run.encode()
    assert not (data_dir / "files").exists()
    assert len([p for p in (storage / "files").iterdir() if p.name.isdigit()]) == 4
    assert not (storage / SECRET_FILE).exists() and not (data_dir / SECRET_FILE).exists()
