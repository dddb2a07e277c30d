#!/usr/bin/env python3
"""Refresh the development lock: `requirements/dev.lock` (standard library only).

    python3 scripts/lock.py            # resolve `.[dev]` afresh and rewrite the lock

The lock is a pip constraints file: every distribution `pip install ".[dev]"` resolves
today, at its exact version. `scripts/dev.py` installs with `-c requirements/dev.lock`, so
the development venv and CI hold the same versions everywhere. Refresh it on purpose (to
take new releases), then run the tests and commit the new lock.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
HEADER = """\
# The development and CI lock: exact versions of everything `pip install ".[dev]"` needs.
# Made by `python3 scripts/lock.py` with Python {python}; installed by scripts/dev.py as
# pip constraints (-c). Refresh it with that command, run the tests, commit it.
"""


def _run(command: list[str]) -> str:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"[lock] failed ({result.returncode}): {' '.join(command)}")
    return result.stdout


def resolve() -> list[str]:
    """`name==version` of every distribution a fresh `.[dev]` install holds (not runapi)."""
    with tempfile.TemporaryDirectory(prefix="runapi-lock-") as tmp:
        venv.create(tmp, with_pip=True)
        python = str(Path(tmp) / "bin" / "python")
        print("[lock] resolving .[dev] in a fresh venv (a few minutes)", flush=True)
        _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        _run([python, "-m", "pip", "install", "--quiet", ".[dev]"])
        frozen = _run([python, "-m", "pip", "freeze", "--all"]).splitlines()
    keep = [
        line.strip()
        for line in frozen
        if "==" in line and not line.lower().startswith(("runapi==", "pip==", "setuptools=="))
    ]
    return sorted(keep, key=str.lower)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lock.py", description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    pins = resolve()
    python = ".".join(map(str, sys.version_info[:2]))
    LOCK.parent.mkdir(exist_ok=True)
    LOCK.write_text(HEADER.format(python=python) + "\n".join(pins) + "\n")
    print(f"[lock] wrote {LOCK.relative_to(ROOT)} ({len(pins)} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
