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
        scan = run.scan_history(max_step=max_step)
        output = args.get("format", "pandas")
        if output == "pandas":
            return len(scan.to_pandas(parquet=args.get("parquet", True)))
        if output == "arrow":
            return int(scan.to_arrow().num_rows)
        return len(scan.to_polars())
    else:
        import pandas

        kwargs: dict[str, Any] = {} if max_step is None else {"max_step": max_step}
        if args.get("no_cache"):
            kwargs["use_cache"] = False
        df = pandas.DataFrame(list(run.scan_history(**kwargs)))
    return len(df)


def local_parquet(impl: str, api: Any, args: dict[str, Any]) -> int:
    """The reference: the same exports read from local files (`pq.read_table(...).to_pandas()`),
    timed in a fresh process like the reads it is compared with."""
    import pyarrow.parquet as pq

    files = args["files"]
    return len(pq.read_table(files[0] if len(files) == 1 else files).to_pandas())


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
        runs = api.runs(args["project"])
        output = args.get("format", "pandas")
        if output == "arrow":
            return int(runs.to_arrow().num_rows)
        return len(runs.to_polars() if output == "polars" else runs.to_pandas())
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


def _wandb_long(frames: list[tuple[str, Any]]) -> Any:
    """wandb side: per-run frames to one long frame with a run_id column (as
    wandb's `Runs.histories(format="pandas")` builds it)."""
    import pandas

    parts = []
    for run_id, frame in frames:
        if len(frame):
            frame["run_id"] = run_id
            parts.append(frame)
    return pandas.concat(parts, ignore_index=True) if parts else pandas.DataFrame()


def bulk(impl: str, api: Any, args: dict[str, Any]) -> int:
    """Sampled histories (500 rows) of every run of a project, to one long frame."""
    runs = api.runs(args["project"])
    if impl == "runapi":
        return len(runs.histories(samples=500))
    import pandas

    frames = [(run.id, pandas.DataFrame(run.history(samples=500, pandas=False))) for run in runs]
    return len(_wandb_long(frames))


def full_many(impl: str, api: Any, args: dict[str, Any]) -> int:
    """Every row of every run of a project (wandb: of the first `max_runs`), one long frame."""
    runs = api.runs(args["project"])
    if impl == "runapi":
        return len(runs.histories(samples=None))
    import pandas

    frames = []
    for index, run in enumerate(runs):
        if args.get("max_runs") is not None and index >= args["max_runs"]:
            break
        frames.append((run.id, pandas.DataFrame(list(run.scan_history()))))
    return len(_wandb_long(frames))


def scan_iter(impl: str, api: Any, args: dict[str, Any]) -> int:
    run = api.run(args["path"])
    max_step = args.get("max_step")
    kwargs: dict[str, Any] = {} if max_step is None else {"max_step": max_step}
    return sum(1 for _ in run.scan_history(**kwargs))


def artifact_upload(impl: str, api: Any, args: dict[str, Any]) -> int:
    """Log every file under `dir` as a new version of artifact `name` from a new run in
    `project`; timed from the artifact call until its files are stored and committed
    (`wandb.init` not included). Returns the bytes logged."""
    directory = args["dir"]
    if impl == "runapi":
        import runapi

        run = runapi.Run.create(api, project=args["project"], state="finished")
        spec = runapi.ArtifactSpec(args["name"], "dataset")
        t0 = time.perf_counter()
        spec.add_dir(directory)
        artifact = run.log_artifact(spec, progress=False)
        args["_seconds"] = time.perf_counter() - t0
        return artifact.size
    import wandb

    run = wandb.init(project=args["project"], settings=wandb.Settings(silent=True))
    t0 = time.perf_counter()
    art = wandb.Artifact(args["name"], type="dataset")
    art.add_dir(directory)
    run.log_artifact(art).wait()
    run.finish()
    args["_seconds"] = time.perf_counter() - t0
    return int(art.size)


def artifact_download(impl: str, api: Any, args: dict[str, Any]) -> int:
    """Download every file of artifact `path` into `root` (no cache); returns the bytes."""
    artifact = api.artifact(args["path"])
    if impl == "runapi":
        artifact.download(root=args["root"], progress=False)
    else:
        artifact.download(root=args["root"], skip_cache=True)
    return int(artifact.size)


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
        import polars  # noqa: F401  (the output libraries load before timing)
        import pyarrow  # noqa: F401
        import runapi_generated.client  # noqa: F401  (loaded on first use; wandb at import)

        if scenario.startswith("artifact_"):
            api.viewer()  # one request before timing, as wandb.Api() makes at construction
    t0 = time.perf_counter()
    result: dict[str, Any]
    if scenario == "sampled":
        times = sampled(impl, api, args)
        result = {"times": times}
    else:
        rows = {
            "full_history": full_history,
            "local_parquet": local_parquet,
            "runs_table": runs_table,
            "bulk": bulk,
            "full_many": full_many,
            "scan_iter": scan_iter,
            "artifact_upload": artifact_upload,
            "artifact_download": artifact_download,
        }[scenario](impl, api, args)
        result = {"seconds": args.get("_seconds", time.perf_counter() - t0), "rows": rows}
    result["rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
