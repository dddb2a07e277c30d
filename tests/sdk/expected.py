"""What tests/sdk/train.py logs: shared by the script (any wandb version) and the test.

Plain Python with no third-party imports, so every SDK venv can import it.
"""

from __future__ import annotations

import math
from typing import Any

PROJECT = "sdk-logging"
STEPS = 40
CRASH_AT = 17
CONFIG: dict[str, Any] = {
    "lr": 0.01,
    "batch_size": 32,
    "model": {"layers": 3, "activation": "relu", "dims": [64, 32]},
    "seed": None,
}
SUMMARY: dict[str, Any] = {"best_acc": 0.97, "best": {"epoch": 3, "loss": 0.031}}
SAVE_NAME = "notes/model-card.txt"
SAVE_TEXT = "a model card saved with wandb.save\n"
STEP_SLEEP_S = 0.03
STATS_INTERVAL_S = 0.1


def row(step: int) -> dict[str, Any]:
    """The values logged at ``step``: scalars, a NaN, infinities, nested dicts."""
    values: dict[str, Any] = {"loss": 1.0 / (step + 1), "lr": 0.01 * 0.9**step}
    if step % 2 == 0:
        values["acc"] = step / 100
    if step == 3:
        values["loss"] = math.nan
    if step == 5:
        values["lr"] = math.inf
    if step == 6:
        values["lr"] = -math.inf
    if step % 4 == 0:
        values["grad"] = {"norm": step * 0.5, "layer": {"w": step, "b": -step}}
    if step % 10 == 9:
        values["eval"] = {"loss": 2.0 / (step + 1), "ok": True, "tag": f"ckpt-{step}"}
    return values
