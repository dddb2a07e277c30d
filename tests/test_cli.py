"""The `runapi` command: `serve`, `users create`, usage errors, lazy server imports."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from artifact_upload import (
    PROJECT,
    complete_operation,
    complete_variables,
    create,
    declare_parts,
    manifest,
    upload_manifest_and_commit,
)
from conftest import Server, User, load_operation
from server_gql import data, error_messages, upsert

KEY_RE = re.compile(r"local-[0-9a-f]{40}")
TIMEOUT = 60


def runapi(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runapi_cli", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def viewer(url: str, key: str) -> httpx.Response:
    return httpx.post(
        url + "/graphql",
        json={"query": load_operation("get_viewer")},
        auth=("api", key),
        timeout=30,
    )


def test_users_create_prints_a_key_that_authenticates(spawned_server: Server) -> None:
    result = runapi("users", "create", "cli-alice", "--data-dir", str(spawned_server.data_dir))
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert KEY_RE.fullmatch(key), result.stdout
    assert result.stdout == key + "\n"  # the key alone on stdout

    response = viewer(spawned_server.url, key)
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["name"] == "cli-alice"

    again = runapi("users", "create", "cli-alice", "--data-dir", str(spawned_server.data_dir))
    assert again.returncode == 0
    assert again.stdout.strip() != key  # a second, fresh key for the same user
    assert viewer(spawned_server.url, again.stdout.strip()).json()["data"]["viewer"]["name"] == (
        "cli-alice"
    )


def test_spawned_serve_answers_health_and_graphql(spawned_server: Server) -> None:
    assert httpx.get(spawned_server.url + "/healthz", timeout=10).text == "ok"
    assert viewer(spawned_server.url, "local-" + "0" * 40).status_code == 401


SERVE_EXTRA_ARGS: list[str] = []


@pytest.fixture
def serve_any_port(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """`runapi serve --port 0`: the URL is known only from what the command prints.

    Extra `serve` arguments come from indirect parametrisation (`request.param`).
    """
    data_dir = tmp_path / "data"
    extra: list[str] = getattr(request, "param", SERVE_EXTRA_ARGS)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runapi_cli",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(
            r"runapi server listening on (http://127\.0\.0\.1:\d+) \(data: ([^,]+)\)\n", line
        )
        assert match, line
        assert Path(match.group(2)) == data_dir.resolve()
        yield match.group(1), data_dir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_serve_prints_the_url_it_serves(serve_any_port: tuple[str, Path]) -> None:
    url, data_dir = serve_any_port
    assert httpx.get(url + "/healthz", timeout=10).text == "ok"
    key = runapi("users", "create", "printed", "--data-dir", str(data_dir)).stdout.strip()
    response = viewer(url, key)
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["name"] == "printed"


@pytest.mark.parametrize("serve_any_port", [["--limit", "max_page_size=3"]], indirect=True)
def test_serve_limit_option_overrides_a_limit(serve_any_port: tuple[str, Path]) -> None:
    url, data_dir = serve_any_port
    key = runapi("users", "create", "limited", "--data-dir", str(data_dir)).stdout.strip()
    created = httpx.post(
        url + "/graphql",
        json={
            "query": load_operation("upsert_run"),
            "variables": {"input": {"entityName": "limited", "modelName": "p", "name": "r1"}},
        },
        auth=("api", key),
        timeout=30,
    )
    assert created.json()["data"]["upsertBucket"]["inserted"] is True
    variables = {"entity": "limited", "project": "p", "first": 4}
    response = httpx.post(
        url + "/graphql",
        json={"query": load_operation("list_runs"), "variables": variables},
        auth=("api", key),
        timeout=30,
    )
    assert response.status_code == 200
    assert "3" in response.json()["errors"][0]["message"]
    variables["first"] = 3
    ok = httpx.post(
        url + "/graphql",
        json={"query": load_operation("list_runs"), "variables": variables},
        auth=("api", key),
        timeout=30,
    )
    assert "errors" not in ok.json()


@pytest.mark.parametrize("serve_any_port", [["--limit", "min_part_bytes=1024"]], indirect=True)
def test_serve_min_part_bytes_sets_the_smallest_multipart_part(
    serve_any_port: tuple[str, Path],
) -> None:
    url, data_dir = serve_any_port
    key = runapi("users", "create", "parts", "--data-dir", str(data_dir)).stdout.strip()
    user = User(name="parts", api_key=key, server=Server(url=url, data_dir=data_dir))
    content = os.urandom(2048 + 10)
    with user.http() as client:
        upsert(client, modelName=PROJECT, name="writer")
        for sizes, accepted in (([1000, 1058], False), ([1024, 1024, 10], True)):
            parts, start = [], 0
            for size in sizes:
                parts.append(content[start : start + size])
                start += size
            artifact = create(client, user, {"big.bin": content})
            manifest(client, user, artifact["id"], "")
            node = declare_parts(client, artifact["id"], "big.bin", content, parts)
            urls = node["uploadMultipartUrls"]["uploadUrlParts"]
            etags = [
                httpx.put(u["uploadUrl"], content=part).headers["ETag"]
                for u, part in zip(urls, parts, strict=True)
            ]
            variables = complete_variables(artifact["id"], node, etags)
            if not accepted:
                messages = error_messages(client, complete_operation(), variables)
                assert messages == ["part 1 is smaller than the minimum part size 1024"]
                continue
            data(client, complete_operation(), variables)
            files = {"big.bin": content}
            committed = upload_manifest_and_commit(client, user, artifact["id"], files)
            assert committed["size"] == len(content)


@pytest.mark.parametrize(
    "limit", ["max_page_size", "no_such_limit=3", "max_page_size=x", "max_page_size=0"]
)
def test_serve_rejects_a_bad_limit_option(limit: str, tmp_path: Path) -> None:
    result = runapi("serve", "--port", "0", "--data-dir", str(tmp_path), "--limit", limit)
    assert result.returncode == 2
    assert "--limit" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_users_create_defaults_to_the_per_user_data_dir(tmp_path: Path) -> None:
    result = runapi("users", "create", "xdg-user", env={"XDG_DATA_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert KEY_RE.fullmatch(result.stdout.strip())
    assert (tmp_path / "runapi" / "runapi.sqlite3").is_file()


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("frobnicate",),
        ("users",),
        ("users", "create"),
        ("serve", "--port", "http"),
        ("serve", "--port", "70000"),
        ("serve", "--no-such-flag"),
    ],
)
def test_bad_usage_exits_2(args: tuple[str, ...]) -> None:
    result = runapi(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage: runapi" in result.stderr


def test_help_has_examples() -> None:
    result = runapi("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert "runapi users create alice" in result.stdout
    for command in ("serve", "users", "demo"):
        assert command in result.stdout


def test_bad_user_name_fails_with_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = runapi("users", "create", "no spaces/allowed", "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("runapi: error: invalid user name 'no spaces/allowed'")
    assert not data_dir.exists()  # nothing written


def test_port_in_use_fails_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runapi("serve", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"runapi: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_cli_imports_the_server_lazily() -> None:
    probe = (
        "import sys, runapi_cli.main as m; m.build_parser();"
        "print(sorted({n.split('.')[0] for n in sys.modules} & "
        "{'uvicorn', 'runapi_server', 'starlette', 'ariadne'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["demo"]])
def test_missing_server_extra_gives_install_hint(command: list[str], tmp_path: Path) -> None:
    # A client-only install: importing uvicorn fails as if it were not installed.
    probe = (
        "import sys; sys.modules['uvicorn'] = None; sys.modules['ariadne'] = None;"
        "from runapi_cli.main import main; raise SystemExit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "pip install 'runapi[server]'" in result.stderr


def test_demo_runs_end_to_end_and_cleans_up(tmp_path: Path) -> None:
    result = runapi("demo", "--samples", "6", env={"TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for section in (
        "api.runs('demo/mnist-demo'): 4 runs",
        "filters={'state': 'failed'} -> ['adam-lr2']",
        "run.history(samples=6)",
        "3000 rows (lastHistoryStep=2999)",
        "wandb-metadata.json",
        "baseline logged mnist:v0 (dataset)",
        "adam-lr3 used mnist:v0",
        "train/images.csv",
        "artifact.download(): 3 files, MD5-checked",
        "reloaded: config.lr=0.0005 summary.note='tuned by hand'",
    ):
        assert section in out, out
    assert list(tmp_path.iterdir()) == []  # the temporary data dir is gone


def test_demo_rejects_bad_samples() -> None:
    result = runapi("demo", "--samples", "1")
    assert result.returncode == 2
    assert "must be at least 2" in result.stderr


@pytest.mark.parametrize("command", ["users", "serve"])
def test_unusable_data_dir_fails_with_one_line(command: str, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    args = ["users", "create", "carol"] if command == "users" else ["serve", "--port", "0"]
    result = runapi(*args, "--data-dir", str(not_a_dir))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"runapi: error: cannot use data dir {not_a_dir}: [Errno 17] File exists: '{not_a_dir}'"
    ]


BROKEN_GRAPHQL = (
    # graphql-core is installed, but its modules lack what the server imports (as when a
    # new release moves a name).
    "import sys, types; sys.modules['graphql'] = types.ModuleType('graphql');"
    "from runapi_cli.main import main; raise SystemExit(main(sys.argv[1:]))"
)


def runapi_with_broken_graphql(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BROKEN_GRAPHQL, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["demo"]])
def test_incompatible_server_dependency_is_named_with_its_version(
    command: list[str], tmp_path: Path
) -> None:
    result = runapi_with_broken_graphql(*command, cwd=tmp_path)
    installed = metadata.version("graphql-core")
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert f"installed graphql-core {installed} is not supported by this runapi" in result.stderr
    assert "it needs graphql-core<3.4,>=3.2.3" in result.stderr
    assert "needs its extra" not in result.stderr


def test_serve_debug_prints_the_traceback(tmp_path: Path) -> None:
    result = runapi_with_broken_graphql("serve", "--port", "0", "--debug", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ModuleNotFoundError: No module named 'graphql." in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("runapi: error: installed graphql")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_refuses_a_database_that_is_not_postgresql(tmp_path: Path, how: str) -> None:
    spec = "mysql://u@host/db"
    args = ["serve", "--port", "0", "--data-dir", str(tmp_path)]
    if how == "flag":
        result = runapi(*args, "--database", spec)
    else:
        result = runapi(*args, env={"RUNAPI_DATABASE": spec})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"runapi: error: --database {spec!r}: expected a"
        " postgresql://user:password@host:port/dbname URL (leave it out for the SQLite file"
        " in the data dir)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
