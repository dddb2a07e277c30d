"""`runapi users create | list | revoke` on a data dir a spawned server is using: what
each prints, and that a revoked key stops working over HTTP."""

from __future__ import annotations

import hashlib
import time

from conftest import Server
from test_cli import runapi, viewer


def fp(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def test_create_says_what_it_did(spawned_server: Server) -> None:
    data = str(spawned_server.data_dir)
    first = runapi("users", "create", "say-alice", "--data-dir", data)
    assert first.returncode == 0
    assert first.stderr == "created user say-alice (entity say-alice) with a new API key\n"
    again = runapi("users", "create", "say-alice", "--data-dir", data)
    assert again.returncode == 0
    assert again.stdout.strip() != first.stdout.strip()
    assert again.stderr == (
        "user say-alice already exists: added a new API key (it now has 2;"
        " `runapi users revoke` removes keys)\n"
    )


def test_list_and_revoke(spawned_server: Server) -> None:
    data = str(spawned_server.data_dir)
    key1 = runapi("users", "create", "rv-bob", "--data-dir", data).stdout.strip()
    key2 = runapi("users", "create", "rv-bob", "--data-dir", data).stdout.strip()
    other = runapi("users", "create", "rv-carol", "--data-dir", data).stdout.strip()
    listed = runapi("users", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["USER", "KEY", "CREATED"]
    bob = [line.split()[:2] for line in lines if line.startswith("rv-bob ")]
    assert sorted(bob) == sorted([["rv-bob", fp(key1)], ["rv-bob", fp(key2)]])
    assert key1 not in listed.stdout  # fingerprints only

    one = runapi("users", "revoke", fp(key1), "--data-dir", data)
    assert one.returncode == 0, one.stderr
    assert one.stdout == f"revoked 1 key of rv-bob: {fp(key1)}\n"
    time.sleep(5.5)  # a running server caches a known key for up to 5 s
    assert viewer(spawned_server.url, key1).status_code == 401
    assert viewer(spawned_server.url, key2).json()["data"]["viewer"]["name"] == "rv-bob"

    everything = runapi("users", "revoke", "rv-bob", "--data-dir", data)
    assert everything.stdout == f"revoked 1 key of rv-bob: {fp(key2)}\n"
    nothing = runapi("users", "revoke", "rv-bob", "--data-dir", data)
    assert nothing.returncode == 0
    assert nothing.stdout == "user rv-bob has no API keys: nothing to revoke\n"
    listed = runapi("users", "list", "--data-dir", data).stdout
    assert [line.split()[:3] for line in listed.splitlines() if "rv-bob" in line] == [
        ["rv-bob", "(no", "keys)"]
    ]
    time.sleep(5.5)
    assert viewer(spawned_server.url, key2).status_code == 401
    assert viewer(spawned_server.url, other).status_code == 200


def test_revoke_unknown_targets_fail_with_one_line(spawned_server: Server) -> None:
    data = str(spawned_server.data_dir)
    for target, message in (
        ("nobody-here", "runapi: error: no user named 'nobody-here'"),
        ("sha256:ffffffffffff", "runapi: error: no API key has fingerprint sha256:ffffffffffff"),
        ("bad name!", "runapi: error: invalid user name 'bad name!'"),
    ):
        result = runapi("users", "revoke", target, "--data-dir", data)
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.splitlines()[0].startswith(message), result.stderr
