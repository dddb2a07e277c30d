#!/usr/bin/env python3
"""Bootstrap and run: the README Quickstart's one entry point (standard library only).

    python3 scripts/dev.py demo            # install if needed, then `runapi demo`
    python3 scripts/dev.py test [ARGS...]  # install if needed, then `pytest ARGS...`
    python3 scripts/dev.py test --postgres [ARGS...]  # the same, every test server on
                                           # PostgreSQL (a temp cluster: scripts/pg_cluster.py)
    python3 scripts/dev.py --install-only  # install if needed, nothing else

It creates `.venv` in the project root when missing and runs
`pip install -e ".[dev]" -c requirements/dev.lock` whenever pyproject.toml or the lock
changed since the last install (a stamp file inside `.venv` keeps their hash), so every
development venv and CI hold the same versions. `python3 scripts/lock.py` refreshes the
lock. Everything then runs with the venv's own Python.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".runapi-install-stamp"
LOCK = ROOT / "requirements" / "dev.lock"
MIN_PYTHON = (3, 11)


def venv_python() -> Path:
    """The Python executable inside `.venv` (POSIX or Windows layout)."""
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def _run(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise SystemExit(f"[dev] failed ({result.returncode}): {' '.join(command)}")


def install_fingerprint() -> str:
    """The hash of pyproject.toml and the lock: the install is redone when either changes."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(LOCK.read_bytes())
    return digest.hexdigest()


def ensure_installed() -> Path:
    """Create `.venv` if missing and (re)install the project when pyproject.toml changed."""
    if sys.version_info < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        raise SystemExit(f"[dev] Python {wanted}+ is needed, this is {sys.version.split()[0]}")
    python = venv_python()
    if not python.exists():
        _say(f"creating {VENV.relative_to(ROOT)} with {sys.executable}")
        _run([sys.executable, "-m", "venv", str(VENV)])
    fingerprint = install_fingerprint()
    if not STAMP.exists() or STAMP.read_text().strip() != fingerprint:
        lock = LOCK.relative_to(ROOT)
        _say(f'installing: pip install -e ".[dev]" -c {lock} (first run takes a few minutes)')
        _run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        _run([str(python), "-m", "pip", "install", "--quiet", "-e", ".[dev]", "-c", str(lock)])
        STAMP.write_text(fingerprint + "\n")
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/dev.py",
        description="Create .venv, install the project into it when needed, then run a command.",
        epilog="examples:\n  python3 scripts/dev.py demo\n  python3 scripts/dev.py test -x -q"
        "\n  python3 scripts/dev.py --install-only",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--install-only", action="store_true", help="install when needed and run nothing"
    )
    parser.add_argument("command", nargs="?", choices=["demo", "test"], help="what to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="passed on to pytest / runapi demo")
    args = parser.parse_args(argv)
    if args.command is None and not args.install_only:
        parser.error("name a command (demo or test) or pass --install-only")
    python = ensure_installed()
    if args.command is None:
        return 0
    if args.command == "demo":
        command = [str(python), "-m", "runapi_cli", "demo", *args.args]
    elif args.args[:1] == ["--postgres"]:
        from pg_cluster import ADMIN_ENV, temp_cluster

        command = [str(python), "-m", "pytest", *args.args[1:]]
        with temp_cluster(fsync=False) as cluster:
            _say(f"PostgreSQL test cluster at {cluster.admin_url} ({ADMIN_ENV})")
            env = {**os.environ, ADMIN_ENV: cluster.admin_url}
            return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    else:
        command = [str(python), "-m", "pytest", *args.args]
    return subprocess.run(command, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
