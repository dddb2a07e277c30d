"""The run page in headless Chromium: loads with no console errors, charts render."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import User
from seeding import close_apis, finish, log_history, make_api, new_run, steps

from runapi._html import page_token

__all__ = ["close_apis"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (apt-get install -y chromium); required in CI",
)


def chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None, "chromium must be installed in CI (see .ci/run)"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_problems(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Refused to" in line
    ]


def test_run_page_renders_charts_without_console_errors(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="pages", run_id="page1")
    run.name = "resnet <baseline>"
    run.config.update({"lr": 0.001, "batch_size": 64, "optimizer": {"name": "adam"}})
    run.update()
    rows = steps(1200)
    for i, row in enumerate(rows):
        row["val/acc"] = 1 - math.exp(-i / 300)
    rows[10]["loss"] = math.nan
    log_history(user, run, rows)
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "model.txt").write_text("weights")
    run.upload_file(tmp_path / "f" / "model.txt", root=tmp_path / "f")
    finish(user, run)

    token = page_token(api._ctx, run._path)
    assert token is not None
    url = f"{run.url}?{urlencode({'token': token})}"

    dumped = chromium(tmp_path, url, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert "resnet &lt;baseline&gt;" in dom
    assert "finished" in dom and "model.txt" in dom and "batch_size" in dom
    assert dom.count('<svg class="chart"') == 3  # acc, loss, val/acc
    assert dom.count('<path d="M') == 3
    for name in ("acc", "loss", "val/acc"):
        assert f'aria-label="{name}"' in dom
    assert console_problems(dumped.stderr) == []

    shot = tmp_path / "page.png"
    shown = chromium(tmp_path, url, f"--screenshot={shot}", "--window-size=1200,900")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    assert console_problems(shown.stderr) == []
    keep = os.environ.get("RUNAPI_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_without_credentials_the_browser_is_asked_to_log_in(user: User, tmp_path: Path) -> None:
    api = make_api(user)
    run = new_run(api, user, project="pages", run_id="page2")
    dumped = chromium(tmp_path, run.url, "--dump-dom")
    # Headless Chromium cannot show the login prompt: it reports the Basic challenge.
    asked = "ERR_INVALID_AUTH_CREDENTIALS" in dumped.stderr or "needs your API key" in dumped.stdout
    assert asked, dumped.stderr[-2000:]
    assert '<svg class="chart"' not in dumped.stdout
