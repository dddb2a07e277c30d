#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for tests and CI (standard library only).

    python3 scripts/pg_cluster.py                 # start one, print its admin URL, wait
    python3 scripts/pg_cluster.py -- CMD ARGS...  # start one, run CMD with
                                                  # RUNAPI_TEST_DATABASE set, then stop it

`initdb` makes a cluster in a new temp dir (trust authentication, superuser `postgres`),
`postgres` serves it on a free loopback port with its unix socket in that dir, and on
exit it is stopped and the dir deleted. As a library:

```python
with temp_cluster(fsync=False) as cluster:
    url = cluster.create_database("t1")   # postgresql://postgres@127.0.0.1:PORT/t1
```

The binaries come from PATH or /usr/lib/postgresql/<version>/bin (Debian's
`postgresql` package). Run as root, the cluster runs as the `postgres` user
(initdb refuses root).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADMIN_ENV = "RUNAPI_TEST_DATABASE"
"""The variable the test suite reads: the admin URL of a cluster to make databases on."""
SUPERUSER = "postgres"


def bin_dir() -> Path:
    """The directory holding `initdb` and `postgres` (newest version first)."""
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "postgres").exists():
        return Path(found).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    if not candidates:
        raise FileNotFoundError(
            "PostgreSQL server binaries (initdb) not found on PATH or in"
            " /usr/lib/postgresql/*/bin: install Debian's `postgresql` package"
        )
    return candidates[0].parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_owner() -> dict[str, Any]:
    """subprocess arguments that drop root to the `postgres` user (else nothing)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class Cluster:
    """A running cluster: its dir, port and the server process."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` with psql as the superuser and return its output."""
        psql = shutil.which("psql") or str(bin_dir() / "psql")
        done = subprocess.run(
            [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql, self.url(database)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str) -> str:
        """Create database `name` (a plain identifier) and return its URL."""
        if not name.replace("_", "").isalnum() or not name.isascii():
            raise ValueError(f"database name {name!r}: letters, digits and '_' only")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _wait_ready(cluster: Cluster, log: Path, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if cluster.process.poll() is not None:
            raise RuntimeError(f"postgres exited at start-up:\n{log.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", cluster.port), timeout=1.0):
                pass
            cluster.psql("SELECT 1")
            return
        except (OSError, RuntimeError):
            time.sleep(0.1)
    raise RuntimeError(f"postgres did not accept connections within {deadline_s}s")


@contextmanager
def temp_cluster(*, fsync: bool = True, port: int | None = None) -> Iterator[Cluster]:
    """Start a new cluster in a temp dir; stop it and delete the dir on exit.

    `fsync=False` makes it faster and not crash-safe (for test runs only).
    """
    binaries = bin_dir()
    owner = _as_owner()
    directory = Path(tempfile.mkdtemp(prefix="runapi-pg-"))
    try:
        if owner:
            os.chown(directory, owner["user"], owner["group"])
        data = directory / "data"
        log = directory / "postgres.log"
        subprocess.run(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **owner,
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port or free_port()),
            "unix_socket_directories": str(directory),
            "max_connections": "300",
            "fsync": "on" if fsync else "off",
            "synchronous_commit": "on" if fsync else "off",
            "full_page_writes": "on" if fsync else "off",
        }
        args = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        with open(log, "wb") as out:
            if owner:
                os.chown(log, owner["user"], owner["group"])
            process = subprocess.Popen(
                [str(binaries / "postgres"), "-D", str(data), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **owner,
            )
        cluster = Cluster(directory=directory, port=int(settings["port"]), process=process)
        try:
            _wait_ready(cluster, log)
            yield cluster
        finally:
            process.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, stop
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/pg_cluster.py",
        description="Start a throwaway PostgreSQL cluster; with a command, run it with"
        f" {ADMIN_ENV} set to the cluster's admin URL, then stop the cluster.",
    )
    parser.add_argument("--no-fsync", action="store_true", help="fsync=off (tests only)")
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with temp_cluster(fsync=not args.no_fsync, port=args.port) as cluster:
        print(f"{ADMIN_ENV}={cluster.admin_url}", flush=True)
        if not command:
            print("[pg] running; Ctrl-C stops it and deletes its data", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                cluster.process.wait()
            return 0
        env = {**os.environ, ADMIN_ENV: cluster.admin_url}
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
