"""The real wandb SDK logs to a spawned `runapi serve`; runapi and wandb.Api read it back.

For each SDK version (the pinned one of the project's venv and the current release in a
venv made on demand, see tests/sdk/venvs.py) an unmodified training script
(tests/sdk/train.py) runs in a subprocess with only WANDB_BASE_URL / WANDB_API_KEY
pointing it here, online, in three scenarios:

- `finished`: config, many logged steps (NaN, infinities, nested dicts), summary keys,
  `wandb.save`, `wandb.finish()`;
- `crashed`: an exception before `finish` -> the SDK sends exit code 1 -> `failed`;
- `resumed`: the crashed run resumed with `resume="must"` and finished.

The local run directory the SDK leaves (files/) is the oracle for what it uploaded;
tests/sdk/expected.py for what the script logged.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, Server, User
from sdk_env import SdkEnv as BaseSdkEnv
from sdk_env import make_sdk_env
from server_gql import error_messages, operation

import runapi

sys.path.insert(0, str(ROOT / "tests" / "sdk"))
import expected
from venvs import LATEST_WANDB, PINNED_WANDB

TRAIN = ROOT / "tests" / "sdk" / "train.py"
READ_BACK = ROOT / "tests" / "sdk" / "read_back.py"
# Far above the few seconds a scenario takes; far below the subprocess timeout: a run
# that takes this long is waiting on the server (retries, polling), which is the bug.
SCENARIO_BUDGET_S = 45
VERSIONS = {"pinned": PINNED_WANDB, "latest": LATEST_WANDB}
UPLOADED = {
    "config.yaml",
    "output.log",
    "requirements.txt",
    "wandb-metadata.json",
    "wandb-summary.json",
    expected.SAVE_NAME,
}


def canonical(value: Any) -> Any:
    """JSON-equal form: NaN != NaN, so non-finite numbers become their JSON token text;
    ints and floats of equal value compare equal."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_constant=lambda c: {"NaN": math.nan}.get(c, float(c)))


@dataclass(frozen=True)
class Scenario:
    run_id: str
    returncode: int
    seconds: float
    output: str
    run_dir: Path  # the SDK's local run directory (files/ holds what it uploaded)


@dataclass(frozen=True)
class ReadBack:
    """One run as read back, by runapi (in-process) and by wandb.Api (subprocess)."""

    scenario: Scenario
    runapi: dict[str, Any]
    wandb: dict[str, Any]

    def local_file(self, name: str) -> bytes:
        return (self.scenario.run_dir / "files" / name).read_bytes()


@dataclass(frozen=True)
class SdkEnv(BaseSdkEnv):
    """The shared SDK environment plus this module's scenarios (train, read back)."""

    def train(self, run_id: str, *flags: str) -> Scenario:
        code, seconds, output = self.run(TRAIN, run_id, *flags)
        dirs = sorted((self.work / "wandb" / "wandb").glob(f"run-*-{run_id}"))
        assert dirs, f"wandb {self.version} left no run dir for {run_id}:\n{output[-3000:]}"
        return Scenario(run_id, code, seconds, output, dirs[-1])

    def read_back(self, scenario: Scenario) -> ReadBack:
        path = f"{self.user.entity}/{expected.PROJECT}/{scenario.run_id}"
        wait_until_ended(self.user, path)
        out = self.work / f"read-{scenario.run_id}-{time.monotonic_ns()}.json"
        downloads = self.work / f"downloads-{out.stem}"
        code, _seconds, output = self.run(READ_BACK, path, str(out), str(downloads))
        assert code == 0, f"wandb {self.version} Api failed reading {path}:\n{output[-4000:]}"
        return ReadBack(scenario, read_with_runapi(self.user, path), loads(out.read_text()))


def wait_until_ended(user: User, path: str, deadline_s: float = 60.0) -> None:
    """Wait until the server holds the run's end (state no longer running): the script's
    process can exit while wandb-core still uploads its last posts, and on a loaded machine
    a read started at once saw the run without them."""
    with runapi.Api(api_key=user.api_key, base_url=user.server.url) as api:
        stop = time.monotonic() + deadline_s
        while api.run(path).state == "running":
            assert time.monotonic() < stop, f"{path} still running after {deadline_s} s"
            time.sleep(0.2)


def read_with_runapi(user: User, path: str) -> dict[str, Any]:
    with runapi.Api(api_key=user.api_key, base_url=user.server.url) as api:
        run = api.run(path)
        return {
            "state": run.state,
            "config": run.config,
            "summary": run.summary,
            "scan_history": list(run.scan_history()),
            "history": run.history(samples=10_000, pandas=False),
            "events": run.history(stream="system", pandas=False),
            "system_metrics": run.system_metrics,
            "metadata": run.metadata,
            "last_history_step": run.lastHistoryStep,
            "files": {f.name: {"size": f.size, "content": f.read_bytes()} for f in run.files()},
        }


@pytest.fixture(scope="module", params=list(VERSIONS))
def sdk(
    request: pytest.FixtureRequest,
    spawned_server: Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> SdkEnv:
    tag: str = request.param
    base = make_sdk_env(tag, VERSIONS[tag], spawned_server, tmp_path_factory, "sdk")
    return SdkEnv(base.tag, base.version, base.python, base.user, base.work)


@pytest.fixture(scope="module")
def finished(sdk: SdkEnv) -> ReadBack:
    scenario = sdk.train("finished")
    assert scenario.returncode == 0, scenario.output[-4000:]
    return sdk.read_back(scenario)


@pytest.fixture(scope="module")
def crashed(sdk: SdkEnv) -> ReadBack:
    scenario = sdk.train("crashed", "--crash")
    assert scenario.returncode == 1, scenario.output[-4000:]
    assert f"training diverged at step {expected.CRASH_AT}" in scenario.output
    return sdk.read_back(scenario)


@pytest.fixture(scope="module")
def resumed(sdk: SdkEnv, crashed: ReadBack) -> ReadBack:
    scenario = sdk.train("crashed", "--resume")
    assert scenario.returncode == 0, scenario.output[-4000:]
    return sdk.read_back(scenario)


def both(read: ReadBack, key: str) -> Any:
    """What runapi read for `key`, checked equal to what wandb.Api read."""
    mine, theirs = canonical(read.runapi[key]), canonical(read.wandb[key])
    assert mine == theirs, f"{key}: runapi and wandb {read.wandb['wandb_version']} disagree"
    return mine


def expected_rows(steps: range) -> list[dict[str, Any]]:
    return [canonical({"_step": s, **expected.row(s)}) for s in steps]


def user_part(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without the SDK's own `_runtime` / `_timestamp` (checked separately)."""
    return [{k: v for k, v in r.items() if k not in ("_runtime", "_timestamp")} for r in rows]


def check_history(read: ReadBack, steps: range) -> None:
    rows = canonical(read.runapi["scan_history"])
    assert both(read, "history") == rows
    assert user_part(rows) == expected_rows(steps)
    assert all(isinstance(r["_timestamp"], float) and r["_runtime"] >= 0 for r in rows)
    assert both(read, "last_history_step") == steps[-1]


def check_wandb_scan_history(read: ReadBack) -> None:
    """wandb's `scan_history` gives the rows runapi reads. Newer wandb reads finished runs
    from the server's parquet exports (nested values as native struct / list columns),
    where a key a row lacks is a null cell: those nulls are dropped here (the script never
    logs a null)."""
    scanned = [{k: v for k, v in r.items() if v is not None} for r in read.wandb["scan_history"]]
    assert canonical(scanned) == canonical(read.runapi["scan_history"])


def check_files(read: ReadBack) -> None:
    files = read.runapi["files"]
    assert set(files) == UPLOADED
    for name, found in files.items():
        assert found["content"] == read.local_file(name), f"{name} differs from the SDK's"
        assert found["size"] == len(found["content"])
    assert files[expected.SAVE_NAME]["content"] == expected.SAVE_TEXT.encode()
    md5s = {
        n: {"size": f["size"], "md5": hashlib.md5(f["content"]).hexdigest()}
        for n, f in files.items()
    }
    assert read.wandb["files"] == md5s


def check_system_metrics(read: ReadBack) -> None:
    events = both(read, "events")
    assert events, "the SDK sent no system metrics"
    for event in events:
        assert isinstance(event["_timestamp"], float) and event["_runtime"] >= 0
        assert any(key.startswith("system.") for key in event), event
    assert both(read, "system_metrics") == events[-1]


# --------------------------------------------------------------------------- finished


def test_finished_run_state_and_speed(finished: ReadBack) -> None:
    assert both(finished, "state") == "finished"
    assert finished.scenario.seconds < SCENARIO_BUDGET_S


def test_finished_config(finished: ReadBack) -> None:
    assert both(finished, "config") == canonical(expected.CONFIG)


def test_finished_summary_is_what_the_sdk_sent(finished: ReadBack) -> None:
    summary = both(finished, "summary")
    assert summary == canonical(loads(finished.local_file("wandb-summary.json")))
    last = expected.row(expected.STEPS - 1)
    assert {k: summary[k] for k in last} == canonical(last)
    assert {k: summary[k] for k in expected.SUMMARY} == canonical(expected.SUMMARY)
    assert summary["_step"] == expected.STEPS - 1


def test_finished_history_every_row(finished: ReadBack) -> None:
    check_history(finished, range(expected.STEPS))


def test_finished_history_by_wandb_scan(finished: ReadBack) -> None:
    check_wandb_scan_history(finished)


def test_crashed_history_by_wandb_scan(crashed: ReadBack) -> None:
    check_wandb_scan_history(crashed)


def test_resumed_history_by_wandb_scan(resumed: ReadBack) -> None:
    # wandb-core caches the crashed run's parts by index: the resumed run's read must find
    # every row (sealed parts are never merged with the resumed rows).
    check_wandb_scan_history(resumed)


def test_finished_system_metrics(finished: ReadBack) -> None:
    check_system_metrics(finished)


def test_finished_files_as_uploaded(finished: ReadBack) -> None:
    check_files(finished)


def test_finished_metadata(finished: ReadBack) -> None:
    metadata = both(finished, "metadata")
    assert metadata == loads(finished.local_file("wandb-metadata.json"))
    assert metadata["program"].endswith("train.py")
    assert metadata["args"] == ["finished"]


# --------------------------------------------------------------------------- crashed


def test_crashed_run_failed(crashed: ReadBack) -> None:
    assert both(crashed, "state") == "failed"
    assert crashed.scenario.seconds < SCENARIO_BUDGET_S


def test_crashed_run_keeps_what_was_logged(crashed: ReadBack) -> None:
    check_history(crashed, range(expected.CRASH_AT))
    summary = both(crashed, "summary")
    assert summary == canonical(loads(crashed.local_file("wandb-summary.json")))
    assert summary["_step"] == expected.CRASH_AT - 1
    assert not set(expected.SUMMARY) & set(summary)
    assert both(crashed, "config") == canonical(expected.CONFIG)
    check_files(crashed)
    output = crashed.runapi["files"]["output.log"]["content"].decode()
    assert f"RuntimeError: training diverged at step {expected.CRASH_AT}" in output


# --------------------------------------------------------------------------- resumed


def test_resumed_run_continues_and_finishes(resumed: ReadBack) -> None:
    assert both(resumed, "state") == "finished"
    assert resumed.scenario.seconds < SCENARIO_BUDGET_S
    check_history(resumed, range(expected.STEPS))
    summary = both(resumed, "summary")
    assert {k: summary[k] for k in expected.SUMMARY} == canonical(expected.SUMMARY)
    assert both(resumed, "config") == canonical(expected.CONFIG)


# --------------------------------------------------------------------------- rejected


@pytest.mark.parametrize(
    ("name", "variables", "field"),
    [
        ("sdk_run_stopped_status", {"projectName": "p", "runId": "r"}, "'stopped' on type 'Run'"),
        ("sdk_organization", {"entityName": "e"}, "'organization' on type 'Entity'"),
    ],
)
def test_operations_outside_the_schema_get_a_clear_graphql_error(
    spawned_server: Server, name: str, variables: dict[str, Any], field: str
) -> None:
    key = spawned_server.create_user(f"sdkreject{name[4:8]}")
    with httpx.Client(base_url=spawned_server.url, auth=("api", key), timeout=30) as client:
        messages = error_messages(client, operation(name), variables)
    assert messages == [f"Cannot query field {field}."]
