"""One timed scenario in a fresh process, for runapi or a wandb anchor.

`python scenarios.py IMPL SCENARIO JSON_ARGS` prints one JSON line:
`{"seconds": ..., "rows": ..., "rss_mb": ...}`. IMPL is `runapi` or `wandb`; the server
URL and key come from WANDB_BASE_URL / WANDB_API_KEY. Only the operation is timed (not
the interpreter start or the imports: runapi's generated client, which it loads on first
use, is imported up front as wandb's is by `import wandb`), except for `import`, timed by
the harness.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any


def _api(impl: str) -> Any:
    if impl == "runapi":
        import runapi

        return runapi.Api()
    import wandb

    return wandb.Api(timeout=600)


def full_history(impl: str, api: Any, args: dict[str, Any]) -> int:
    run = api.run(args["path"])
    max_step = args.get("max_step")
    if impl == "runapi":
        df = run.scan_history(max_step=max_step).to_pandas(parquet=args.get("parquet", True))
    else:
        import pandas

        kwargs: dict[str, Any] = {} if max_step is None else {"max_step": max_step}
        if args.get("no_cache"):
            kwargs["use_cache"] = False
        df = pandas.DataFrame(list(run.scan_history(**kwargs)))
    return len(df)


def sampled(impl: str, api: Any, args: dict[str, Any]) -> list[float]:
    """Median-ready timings of repeated `history(samples=500[, keys])` calls."""
    run = api.run(args["path"])
    keys = args.get("keys")
    times = []
    for _ in range(args.get("calls", 7) + 1):
        t0 = time.perf_counter()
        df = run.history(samples=500, keys=keys)
        times.append(time.perf_counter() - t0)
        assert 0 < len(df) <= 500, len(df)
    return times[1:]


def runs_table(impl: str, api: Any, args: dict[str, Any]) -> int:
    if impl == "runapi":
        return len(api.runs(args["project"]).to_pandas())
    import pandas

    records = []
    for run in api.runs(args["project"]):
        record = {
            "id": run.id,
            "name": run.name,
            "state": run.state,
            "created_at": run.created_at,
            "tags": list(run.tags),
        }
        record.update({f"config.{k}": v for k, v in run.config.items()})
        record.update({f"summary.{k}": v for k, v in run.summary.items() if not k.startswith("_")})
        records.append(record)
    return len(pandas.DataFrame.from_records(records))


def bulk(impl: str, api: Any, args: dict[str, Any]) -> int:
    runs = list(api.runs(args["project"], per_page=1000 if impl == "runapi" else 50))
    if impl == "runapi":
        import runapi

        frames = runapi.history_frames(runs, samples=500)
    else:
        frames = [run.history(samples=500) for run in runs]
    return sum(len(f) for f in frames)


def scan_iter(impl: str, api: Any, args: dict[str, Any]) -> int:
    run = api.run(args["path"])
    max_step = args.get("max_step")
    kwargs: dict[str, Any] = {} if max_step is None else {"max_step": max_step}
    return sum(1 for _ in run.scan_history(**kwargs))


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss would include the parent's, via vfork)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    impl, scenario, raw = sys.argv[1], sys.argv[2], sys.argv[3]
    args = json.loads(raw)
    api = _api(impl)
    if impl == "runapi":
        import pandas  # noqa: F401  (imported up front on both sides)
        import runapi_generated.client  # noqa: F401  (loaded on first use; wandb at import)
    t0 = time.perf_counter()
    result: dict[str, Any]
    if scenario == "sampled":
        times = sampled(impl, api, args)
        result = {"times": times}
    else:
        rows = {
            "full_history": full_history,
            "runs_table": runs_table,
            "bulk": bulk,
            "scan_iter": scan_iter,
        }[scenario](impl, api, args)
        result = {"seconds": time.perf_counter() - t0, "rows": rows}
    result["rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
