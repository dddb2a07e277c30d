"""What the benchmark groups share: a result row, running one scenario in a fresh process,
formatting times."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass
class Result:
    scenario: str
    size: str
    times: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


QUIET_CORES = 0.1
"""Machine-wide CPU use (in cores) under which a scenario may start."""
QUIET_WINDOW_S = 0.2
"""The window that CPU use is measured over before a scenario."""
QUIET_MAX_S = 30.0
"""The longest wait for a quiet machine; the scenario then starts anyway."""


def _busy_seconds() -> float | None:
    """CPU seconds spent on all cores since boot, idle and I/O wait left out (None
    without /proc/stat)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_quiet() -> float:
    """Wait until the machine has been nearly idle for `QUIET_WINDOW_S` (at most
    `QUIET_MAX_S`): the server finishing work left by the scenario before (an export, a
    checkpoint) or an anchor's background process would otherwise be timed with the next
    scenario. Returns the seconds waited beyond one window."""
    start = time.monotonic()
    while time.monotonic() - start < QUIET_MAX_S:
        before = _busy_seconds()
        time.sleep(QUIET_WINDOW_S)
        after = _busy_seconds()
        if before is None or after is None or after - before < QUIET_CORES * QUIET_WINDOW_S:
            break
    return max(0.0, time.monotonic() - start - QUIET_WINDOW_S)


def run_scenario(
    python: Path, impl: str, scenario: str, args: dict[str, Any], env: dict[str, str]
) -> dict[str, Any] | None:
    waited = wait_quiet()
    if waited >= 1:
        log(f"waited {waited:.1f} s for a quiet machine before {impl} {scenario}")
    cmd = [str(python), str(HERE / "scenarios.py"), impl, scenario, json.dumps(args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        log(f"{impl} {scenario} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def fmt(values: list[float], unit: str = "s") -> str:
    if not values:
        return "n/a"
    med = statistics.median(values)
    if unit == "ms":
        return f"{med * 1000:.1f} ms ({min(values) * 1000:.1f}-{max(values) * 1000:.1f})"
    return f"{med:.3f} s ({min(values):.3f}-{max(values):.3f})"


def ratio(anchor: list[float], ours: list[float]) -> str:
    if not anchor or not ours:
        return "n/a"
    return f"{statistics.median(anchor) / statistics.median(ours):.1f}x"
