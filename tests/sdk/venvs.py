"""The Python interpreters the SDK logging tests run ``wandb`` with.

- the pinned ``wandb`` (:data:`PINNED_WANDB`) is the project's own venv (``sys.executable``);
- the current release (:data:`LATEST_WANDB`, the one place it is pinned) gets a venv of
  its own, created on first use under ``$RUNAPI_TEST_CACHE`` (default: ``.venv-wandb-latest``
  at the project root) with ``python -m venv`` and ``pip install wandb==<version>``, its
  dependencies held at ``requirements/wandb-latest.lock`` (``scripts/lock.py`` makes it).

A venv counts as ready only once its marker file names the version; a half-made one
(interrupted install) is removed and made again. A lock file keeps two test runs from
building the same venv at once.

```python
python = sdk_python(LATEST_WANDB)  # ~1 min the first time, instant after
```
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PINNED_WANDB = "0.21.4"
LATEST_WANDB = "0.31.0"
ROOT = Path(__file__).resolve().parent.parent.parent
CACHE_ENV = "RUNAPI_TEST_CACHE"
MARKER = "runapi-wandb-version"
LOCK = ROOT / "requirements" / "wandb-latest.lock"
INSTALL_TIMEOUT_S = 600


class VenvError(RuntimeError):
    """The venv for a wandb version could not be made; the message has pip's output."""


def cache_dir() -> Path:
    """Where extra venvs live: ``$RUNAPI_TEST_CACHE`` or the project root."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else ROOT


def venv_dir(version: str) -> Path:
    base = cache_dir()
    name = ".venv-wandb-latest" if version == LATEST_WANDB else f".venv-wandb-{version}"
    return base / name


def _python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def _marker_text(version: str) -> str:
    """What a ready venv's marker holds: the version, and the lock it was made with."""
    if version != LATEST_WANDB or not LOCK.exists():
        return version
    return f"{version} {hashlib.sha256(LOCK.read_bytes()).hexdigest()}"


def _ready(venv: Path, version: str) -> bool:
    marker = venv / MARKER
    return marker.is_file() and marker.read_text().strip() == _marker_text(version)


def _run(command: list[str]) -> None:
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise VenvError(f"{' '.join(command)} timed out after {INSTALL_TIMEOUT_S}s") from exc
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-3000:]
        raise VenvError(f"{' '.join(command)} failed ({proc.returncode}):\n{output}")


def _build(venv: Path, version: str) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    _run([sys.executable, "-m", "venv", str(venv)])
    python = str(_python_of(venv))
    constraints = ["-c", str(LOCK)] if version == LATEST_WANDB and LOCK.exists() else []
    _run([python, "-m", "pip", "install", "--quiet", f"wandb=={version}", *constraints])
    (venv / MARKER).write_text(_marker_text(version) + "\n")


def _installed_wandb() -> str | None:
    """wandb's version in this interpreter; None where it is absent (a '.[server]' install)."""
    try:
        return metadata.version("wandb")
    except metadata.PackageNotFoundError:
        return None


def sdk_python(version: str) -> Path:
    """An interpreter with ``wandb==version`` installed (made on first use)."""
    if version == PINNED_WANDB and _installed_wandb() == PINNED_WANDB:
        return Path(sys.executable)
    venv = venv_dir(version)
    if _ready(venv, version):
        return _python_of(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _ready(venv, version):
            _build(venv, version)
    return _python_of(venv)


if __name__ == "__main__":
    print(sdk_python(sys.argv[1] if len(sys.argv) > 1 else LATEST_WANDB))
