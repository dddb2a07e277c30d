#!/usr/bin/env python3
"""Refresh the locks in `requirements/` (standard library only).

    python3 scripts/lock.py            # resolve afresh and rewrite both locks

- `dev.lock`: every distribution `pip install ".[dev]"` resolves today, at its exact
  version. `scripts/dev.py` installs with `-c requirements/dev.lock`, so the development
  venv and CI hold the same versions everywhere.
- `wandb-latest.lock`: the same for the venv of the current wandb release that the SDK
  tests build (tests/sdk/venvs.py, whose `LATEST_WANDB` names the version).

Both are pip constraints files. Refresh them on purpose (to take new releases), then run
the tests and commit the new locks.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
WANDB_LOCK = ROOT / "requirements" / "wandb-latest.lock"
VENVS = ROOT / "tests" / "sdk" / "venvs.py"
HEADER = """\
# {what}
# Made by `python3 scripts/lock.py` with Python {python}; installed as pip constraints
# (-c). Refresh it with that command, run the tests, commit it.
"""


def _run(command: list[str]) -> str:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"[lock] failed ({result.returncode}): {' '.join(command)}")
    return result.stdout


def latest_wandb() -> str:
    """The version tests/sdk/venvs.py names as the current wandb release."""
    match = re.search(r'^LATEST_WANDB = "([^"]+)"', VENVS.read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"[lock] no LATEST_WANDB in {VENVS}")
    return match.group(1)


def resolve(requirement: str) -> list[str]:
    """`name==version` of every distribution a fresh install of `requirement` holds."""
    with tempfile.TemporaryDirectory(prefix="runapi-lock-") as tmp:
        venv.create(tmp, with_pip=True)
        python = str(Path(tmp) / "bin" / "python")
        print(f"[lock] resolving {requirement} in a fresh venv (a few minutes)", flush=True)
        _run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
        _run([python, "-m", "pip", "install", "--quiet", requirement])
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
    python = ".".join(map(str, sys.version_info[:2]))
    wandb = latest_wandb()
    targets = [
        (
            LOCK,
            ".[dev]",
            'The dev and CI lock: exact versions of all `pip install ".[dev]"` needs.',
        ),
        (WANDB_LOCK, f"wandb=={wandb}", f"The SDK tests' venv of wandb {wandb}: exact versions."),
    ]
    LOCK.parent.mkdir(exist_ok=True)
    for path, requirement, what in targets:
        pins = resolve(requirement)
        path.write_text(HEADER.format(what=what, python=python) + "\n".join(pins) + "\n")
        print(f"[lock] wrote {path.relative_to(ROOT)} ({len(pins)} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
