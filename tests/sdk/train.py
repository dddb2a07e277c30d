"""A plain wandb training script; run in a subprocess by tests/test_sdk_logging.py.

    python tests/sdk/train.py RUN_ID [--crash] [--resume]

It logs :func:`expected.row` for each step, sets summary keys, saves a file and finishes;
``--crash`` raises before finishing (wandb then reports exit code 1), ``--resume``
resumes RUN_ID (``resume="must"``) from the step after its last logged one. The server
and key come from WANDB_BASE_URL / WANDB_API_KEY, as for any user's script.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import wandb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import expected


def main(run_id: str, crash: bool, resume: bool) -> None:
    settings = wandb.Settings(x_stats_sampling_interval=expected.STATS_INTERVAL_S)
    run = wandb.init(
        project=expected.PROJECT,
        id=run_id,
        config=expected.CONFIG,
        resume="must" if resume else None,
        settings=settings,
    )
    saved = Path.cwd() / expected.SAVE_NAME
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(expected.SAVE_TEXT)
    wandb.save(str(saved), base_path=str(Path.cwd()), policy="now")
    for step in range(run.starting_step, expected.STEPS):
        if crash and step == expected.CRASH_AT:
            raise RuntimeError(f"training diverged at step {step}")
        wandb.log(expected.row(step))
        print(f"step {step}")
        time.sleep(expected.STEP_SLEEP_S)
    for key, value in expected.SUMMARY.items():
        run.summary[key] = value
    wandb.finish()


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], crash="--crash" in args, resume="--resume" in args)
