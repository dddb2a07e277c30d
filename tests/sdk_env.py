"""A wandb SDK environment for the real-SDK tests (tests/test_sdk_*.py).

`SdkEnv` runs a script from tests/sdk/ with one SDK version's interpreter in a subprocess,
with only WANDB_BASE_URL / WANDB_API_KEY pointing it at the server and every wandb
directory (home, cache, config, data, run dirs) in the test's own work directory.

```python
env = make_sdk_env("pinned", PINNED_WANDB, server, tmp_path_factory)
code, seconds, output = env.run(SCRIPT, *args)
```
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, Server, User

sys.path.insert(0, str(ROOT / "tests" / "sdk"))
from venvs import sdk_python

SUBPROCESS_TIMEOUT_S = 120


@dataclass(frozen=True)
class SdkEnv:
    tag: str
    version: str
    python: Path
    user: User
    work: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
        home = self.work / "home"
        env.update(
            {
                "WANDB_BASE_URL": self.user.server.url,
                "WANDB_API_KEY": self.user.api_key,
                "WANDB_SILENT": "true",
                "WANDB_DEBUG": "true",
                "WANDB_ERROR_REPORTING": "false",
                "WANDB_DISABLE_GIT": "true",
                "WANDB_DIR": str(self.work / "wandb"),
                "WANDB_CACHE_DIR": str(self.work / "cache"),
                "WANDB_CONFIG_DIR": str(self.work / "config"),
                "WANDB_DATA_DIR": str(self.work / "data"),
                "HOME": str(home),
                "NETRC": str(home / ".netrc"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def run(self, script: Path, *args: str) -> tuple[int, float, str]:
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [str(self.python), str(script), *args],
                env=self.env(),
                cwd=self.work,
                capture_output=True,
                text=True,
                timeout=SUBPROCESS_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"wandb {self.version} hung: {script.name} {args} ran over "
                f"{SUBPROCESS_TIMEOUT_S}s\n{self.debug_logs()}\n{exc.stderr!r}"
            )
        return proc.returncode, time.monotonic() - started, proc.stdout + proc.stderr

    def debug_logs(self) -> str:
        logs = sorted((self.work / "wandb").glob("wandb/run-*/logs/debug-internal.log"))
        return "\n".join(p.read_text()[-3000:] for p in logs[-1:])


def make_sdk_env(
    tag: str, version: str, server: Server, tmp_path_factory: pytest.TempPathFactory, prefix: str
) -> SdkEnv:
    """A fresh user named ``prefix + tag`` and work directory for ``wandb==version``."""
    python = sdk_python(version)
    name = f"{prefix}{tag}"
    user = User(name=name, api_key=server.create_user(name), server=server)
    work = tmp_path_factory.mktemp(f"{prefix}-{tag}")
    for sub in ("home", "wandb", "cache", "config", "data"):
        (work / sub).mkdir()
    return SdkEnv(tag, version, python, user, work)
