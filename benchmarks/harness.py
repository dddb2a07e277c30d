"""What the benchmark groups share: a result row, running one scenario in a fresh process,
formatting times."""

from __future__ import annotations

import json
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


def run_scenario(
    python: Path, impl: str, scenario: str, args: dict[str, Any], env: dict[str, str]
) -> dict[str, Any] | None:
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
