#!/usr/bin/env python3
"""Install runapi the way a user does and prove it works (standard library only).

    python3 scripts/check_user_install.py [--keep DIR]

In a fresh venv: `pip install '<checkout>[server]'`, not editable and with no lock, so pip
resolves today's releases. Then, with that install:

1. the resolved versions are compared with `requirements/dev.lock` and every package that
   moved is listed (the first place to look when a step below fails);
2. `runapi users create`, `runapi serve`, a mutation with an enum sent as a variable, and
   `runapi demo` run as a user would run them;
3. the server-facing tests run against the installed packages (a copy of `tests/` outside
   the checkout, so the checkout's sources cannot shadow what pip installed), with pytest
   and hypothesis at the lock's versions.

Exit 0 when every step passed; otherwise 1, after naming the failed step and the packages
that moved. CI runs this after the locked test run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
from base64 import b64encode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
TEST_TOOLS = ("pytest", "hypothesis", "hypothesis-graphql")
# Test files that need what `.[server]` does not bring (the wandb SDK, polars, a browser)
# stay out, found by what they use; tests needing polars or IPython inside otherwise
# server-facing files skip themselves (pytest.importorskip). The one exception is the SDK
# artifact proof: wandb-core sends every input (enums included) as a variable, so it runs
# against the user's install too, with the SDK venvs the locked run already built.
NEEDS_MORE = (
    "sdk_python",
    "sdk_env",
    "SdkEnv",
    "wandb_public_api",
    "import wandb",
    "chromium",
    "import polars",
)
SDK_PROOF = "test_sdk_artifacts.py"


def not_server_facing(tests: Path) -> list[str]:
    """Test files that need more than `.[server]` (see NEEDS_MORE)."""
    return sorted(
        path.name
        for path in tests.glob("test_*.py")
        if path.name != SDK_PROOF and any(word in path.read_text() for word in NEEDS_MORE)
    )


ENUM_OPERATION = (
    ROOT / "tests" / "operations" / "enum_variables" / "ArtifactDigestAlgorithm.graphql"
)


class StepFailed(Exception):
    """A step of the check failed; the message says which and why."""


def say(message: str) -> None:
    print(f"[user-install] {message}", flush=True)


def run(
    command: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-6000:]
        raise StepFailed(f"{' '.join(command)} exited {result.returncode}:\n{output}")
    return result.stdout


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            found[normal(name)] = version.strip()
    return found


def moved_packages(installed: dict[str, str], locked: dict[str, str]) -> list[str]:
    """`name: locked -> installed` for each package whose version differs from the lock."""
    lines = []
    for name, version in sorted(installed.items()):
        if name in ("runapi", "pip", "setuptools", "wheel"):
            continue
        if name not in locked:
            lines.append(f"{name}: not in the lock -> {version}")
        elif locked[name] != version:
            lines.append(f"{name}: {locked[name]} (lock) -> {version} (resolved now)")
    return lines


def make_venv(where: Path) -> Path:
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    return python


def serve_and_send_enum(bin_dir: Path, data_dir: Path) -> None:
    """`runapi users create`, `runapi serve`, then a createArtifact with an enum variable."""
    key = run([str(bin_dir / "runapi"), "users", "create", "alice", "--data-dir", str(data_dir)])
    key = key.strip()
    server = subprocess.Popen(
        [str(bin_dir / "runapi"), "serve", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        match = re.search(r"listening on (http://\S+)", first)
        if match is None:
            rest = first + server.stdout.read()[-4000:]
            raise StepFailed(f"runapi serve did not start:\n{rest}")
        url = match.group(1)
        body = {
            "query": ENUM_OPERATION.read_text(),
            "variables": {"value": "MANIFEST_MD5", "entity": "alice", "digest": "user-install"},
        }
        token = b64encode(f"api:{key}".encode()).decode()
        request = urllib.request.Request(
            url + "/graphql",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if answer.get("errors") or not answer.get("data", {}).get("createArtifact"):
            raise StepFailed(f"createArtifact with an enum variable failed: {answer}")
        say(
            f"serve at {url}: createArtifact with $value: ArtifactDigestAlgorithm = MANIFEST_MD5 ok"
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def copy_tests(to: Path) -> None:
    """The tests and the files they read, outside the checkout (no sources beside them)."""
    shutil.copytree(ROOT / "tests", to / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "queries", to / "queries")
    shutil.copy(ROOT / "schema.graphql", to / "schema.graphql")
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")  # pytest's settings


def check(work: Path) -> list[str]:
    """Run every step in `work`; returns the moved packages (raises StepFailed)."""
    say(f"fresh venv in {work / 'venv'}: pip install '{ROOT}[server]' (no lock)")
    python = make_venv(work / "venv")
    bin_dir = python.parent
    run([str(python), "-m", "pip", "install", "--quiet", f"{ROOT}[server]"])
    installed = pins(run([str(python), "-m", "pip", "freeze", "--all"]).splitlines())
    locked = pins(LOCK.read_text().splitlines())
    moved = moved_packages(installed, locked)
    say("resolved: " + ", ".join(f"{n}=={v}" for n, v in sorted(installed.items())))
    say("moved from the lock: " + ("; ".join(moved) if moved else "nothing"))

    serve_and_send_enum(bin_dir, work / "data")
    env = {**os.environ, "TMPDIR": str(work)}
    out = run([str(bin_dir / "runapi"), "demo", "--samples", "6"], env=env, timeout=600)
    say(f"runapi demo ok ({len(out.splitlines())} lines)")

    tools = [f"{name}=={locked[normal(name)]}" for name in TEST_TOOLS]
    run([str(python), "-m", "pip", "install", "--quiet", *tools])
    after = pins(run([str(python), "-m", "pip", "freeze", "--all"]).splitlines())
    changed = [n for n, v in installed.items() if after.get(n) != v]
    if changed:
        raise StepFailed(f"installing the test tools changed the user's packages: {changed}")
    copy_tests(work / "checkout")
    tests = work / "checkout" / "tests"
    left_out = not_server_facing(tests)
    ignored = [f"--ignore={tests / name}" for name in left_out]
    say(f"server-facing tests against the installed packages (left out: {', '.join(left_out)})")
    cache = os.environ.get("RUNAPI_TEST_CACHE", str(ROOT))  # the SDK venvs of the locked run
    env = {
        **os.environ,
        "RUNAPI_TEST_INSTALLED": "1",
        "TMPDIR": str(work),
        "RUNAPI_TEST_CACHE": cache,
    }
    result = subprocess.run(
        [
            str(bin_dir / "pytest"),
            "-q",
            "-p",
            "no:cacheprovider",
            str(tests),
            f"--ignore={tests / 'stress'}",
            *ignored,
        ],
        cwd=work / "checkout",
        env=env,
        check=False,
        timeout=3600,
    )
    if result.returncode != 0:
        raise StepFailed(f"server-facing tests failed (pytest exit {result.returncode})")
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/check_user_install.py", description=__doc__)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    work = args.keep or Path(tempfile.mkdtemp(prefix="runapi-user-install-"))
    work.mkdir(parents=True, exist_ok=True)
    moved: list[str] = []
    try:
        moved = check(work)
    except (StepFailed, subprocess.TimeoutExpired) as exc:
        print(f"[user-install] FAILED: {exc}", file=sys.stderr, flush=True)
        print(
            "[user-install] packages that moved since the lock (the likely cause):", file=sys.stderr
        )
        try:
            python = work / "venv" / "bin" / "python"
            now = pins(run([str(python), "-m", "pip", "freeze", "--all"]).splitlines())
            for line in moved_packages(now, pins(LOCK.read_text().splitlines())) or ["none"]:
                print(f"[user-install]   {line}", file=sys.stderr, flush=True)
        except (StepFailed, OSError):
            print("[user-install]   (no venv to compare)", file=sys.stderr)
        return 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    say(f"passed in {time.monotonic() - started:.0f}s ({len(moved)} packages differ from the lock)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
