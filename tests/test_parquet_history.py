"""Full history through the server's parquet exports equals the GraphQL-pages path."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, User
from history_exports import (
    assert_logged,
    export_tables,
    live_steps,
    parquet_urls,
    same_frames,
    tricky_rows,
    with_mixed,
)
from seeding import close_apis, finish, log_history, make_api, new_run
from test_server_files import run_db_id_of

import runapi

sys.path.insert(0, str(ROOT / "tests" / "sdk"))
from venvs import LATEST_WANDB, sdk_python

__all__ = ["close_apis"]

READ_BACK = ROOT / "tests" / "sdk" / "read_back.py"


def test_exports_equal_graphql_pages(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(300)
    log_history(user, run, rows, chunk=100)
    finish(user, run)
    urls = parquet_urls(user, run)
    assert urls and all(u.startswith(user.server.url) for u in urls)
    (table,) = export_tables(urls)
    assert table.num_rows == 300 and live_steps(user, run) == []
    # numbers in byte streams (floats) and deltas (ints), zstd: fewer bytes to send
    chunks = pq.ParquetFile(io.BytesIO(httpx.get(urls[0]).content)).metadata.row_group(0)
    by_name = {chunks.column(i).path_in_schema: chunks.column(i) for i in range(chunks.num_columns)}
    assert "BYTE_STREAM_SPLIT" in by_name["loss"].encodings
    assert "DELTA_BINARY_PACKED" in by_name["_step"].encodings
    assert {c.compression for c in by_name.values()} == {"ZSTD"}
    assert not (table.schema.metadata or {}).get(b"runapi.json_columns")
    assert pa.types.is_struct(table.schema.field("hist").type)
    assert pa.types.is_list(table.schema.field("vec").type)
    exported = run.scan_history().to_pandas()
    paged = run.scan_history().to_pandas(parquet=False)
    same_frames(exported, paged)
    assert_logged(exported, rows)
    assert math.isnan(exported["loss"][7]) and exported["loss"][11] == -math.inf
    assert exported["hist"][5] == rows[5]["hist"] and exported["hist"][1] is None
    assert exported["big"][3] == 2**60 + 3
    # keys and step windows agree too
    for kwargs in ({"keys": ["hist"]}, {"min_step": 10, "max_step": 200}, {"keys": ["tag"]}):
        same_frames(
            run.scan_history(**kwargs).to_pandas(),  # type: ignore[arg-type]
            run.scan_history(**kwargs).to_pandas(parquet=False),  # type: ignore[arg-type]
        )


def test_to_arrow_reads_the_exports_directly_with_the_values_to_pandas_gives(
    user: User,
) -> None:
    """Scalar-only exports (plus a live tail) become the arrow table without a pandas
    round trip: same columns, same values, integer columns kept integer."""
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = [
        {"_step": i, "loss": 1.0 / (i + 1), "epoch": i // 10, "tag": f"t{i % 3}"}
        | ({"val": float(i)} if i % 7 == 0 else {})
        for i in range(200)
    ]
    rows[5]["loss"] = math.nan
    log_history(user, run, rows[:150], chunk=50)
    finish(user, run)
    assert parquet_urls(user, run)
    log_history(user, run, rows[150:], offset=150)  # resumed: running, so read live
    live = run.scan_history().to_arrow()
    finish(user, run)
    assert len(parquet_urls(user, run)) == 2  # the sealed part, then the resumed rows'
    table = run.scan_history().to_arrow()
    # read live (all over GraphQL) the same: missing values null, the logged NaN NaN
    assert live.column("val").to_pylist() == [r.get("val") for r in rows]
    assert math.isnan(live.column("loss").to_pylist()[5])
    assert live.select(["_step", "epoch", "tag", "val"]).cast(
        table.select(["_step", "epoch", "tag", "val"]).schema
    ) == table.select(["_step", "epoch", "tag", "val"])
    assert table.num_rows == 200
    assert pa.types.is_integer(table.schema.field("epoch").type)
    assert table.column("epoch").to_pylist() == [r["epoch"] for r in rows]
    assert table.column("tag").to_pylist() == [r["tag"] for r in rows]
    # missing values are nulls (through pandas they would have become NaN)
    assert table.column("val").to_pylist() == [r.get("val") for r in rows]
    loss = table.column("loss").to_pylist()
    assert math.isnan(loss[5]) and loss[:5] == [r["loss"] for r in rows[:5]]
    same_frames(table.to_pandas(), run.scan_history().to_pandas())


def test_unfit_value_keeps_the_run_live(user: User) -> None:
    """A value no column holds exactly: the run is served as liveData (read over GraphQL),
    its earlier exports forgotten; rewriting that line lets it be exported again."""
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(100)
    log_history(user, run, rows[:60])
    finish(user, run)
    (url,) = parquet_urls(user, run)  # exported while every value fits
    rows[60]["loss"] = "diverged"  # a float key turns string
    log_history(user, run, rows[60:], offset=60)
    finish(user, run)
    assert parquet_urls(user, run) == [] and httpx.get(url).status_code == 404
    assert live_steps(user, run) == list(range(100))
    assert parquet_urls(user, run) == []  # the marker: nothing is made again
    exported = run.scan_history().to_pandas()
    same_frames(exported, run.scan_history().to_pandas(parquet=False))
    assert_logged(exported, rows)
    log_history(user, run, [{**rows[60], "loss": 0.5}], offset=60)
    finish(user, run)
    (again,) = parquet_urls(user, run)
    assert export_tables([again])[0].num_rows == 100 and live_steps(user, run) == []
    assert run.scan_history().to_pandas()["loss"][60] == 0.5


@pytest.mark.parametrize(
    "odd",
    [
        None,  # a top-level null reads like a missing key
        {},  # a struct needs a field
        2**64,  # beyond int64
        [1, "a"],  # a list of two item types
        {"_type": "histogram"},  # not the key set of the other "hist" objects
        [4, "x"],  # "mixed": a list, a null, then an int (see with_mixed)
    ],
)
def test_unfit_values_are_read_exactly(user: User, odd: Any) -> None:
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(12)
    if odd == [4, "x"]:
        rows = with_mixed(rows)
    rows[4]["hist" if isinstance(odd, dict) and odd else "x"] = odd
    log_history(user, run, rows)
    finish(user, run)
    assert parquet_urls(user, run) == []
    assert live_steps(user, run) == list(range(12))
    frame = run.scan_history().to_pandas()
    same_frames(frame, run.scan_history().to_pandas(parquet=False))
    assert_logged(frame, rows)


def wandb_scan(user: User, run: runapi.Run, work: Path) -> list[dict[str, Any]]:
    """`wandb.Api().run(...).scan_history()` of the current wandb release, as JSON rows
    (a key a row lacks, which wandb-core reads from parquet as a null, dropped)."""
    python = sdk_python(LATEST_WANDB)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(
        {
            "WANDB_BASE_URL": user.server.url,
            "WANDB_API_KEY": user.api_key,
            "WANDB_SILENT": "true",
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_DIR": str(work),
            "WANDB_CACHE_DIR": str(work / "cache"),
            "WANDB_CONFIG_DIR": str(work / "config"),
            "WANDB_DATA_DIR": str(work / "data"),
            "HOME": str(work),
            "NETRC": str(work / ".netrc"),
        }
    )
    out = work / f"read-{run.id}.json"
    path = f"{run.entity}/{run.project}/{run.id}"
    command = [str(python), str(READ_BACK), path, str(out), str(work / "downloads")]
    proc = subprocess.run(
        command, env=env, cwd=work, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    scanned: list[dict[str, Any]] = json.loads(out.read_text())["scan_history"]
    return [{k: v for k, v in r.items() if v is not None} for r in scanned]


def sorted_json(value: Any) -> str:
    """JSON text with object keys sorted (wandb-core does not keep their order) and whole
    floats as ints (wandb-core writes 1.0 as 1, as it does for any float64 column)."""

    def whole(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: whole(x) for k, x in v.items()}
        if isinstance(v, list):
            return [whole(x) for x in v]
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    return json.dumps(whole(value), sort_keys=True)


def test_latest_wandb_reads_exact_values(user: User, tmp_path: Path) -> None:
    """wandb-core reads the native nested columns exactly, and a run kept live too."""
    api = make_api(user)
    exported, live = new_run(api, user, project="pq"), new_run(api, user, project="pq")
    rows = tricky_rows(40)
    for run in (exported, live):
        log_history(user, run, rows[:30] if run is live else rows)
        finish(user, run)
    log_history(user, live, [*rows[30:31], {**rows[31], "deep": {"x": "other"}}], offset=30)
    assert len(parquet_urls(user, exported)) == 1 and parquet_urls(user, live) == []
    for run, logged in (
        (exported, rows),
        (live, [*rows[:31], {**rows[31], "deep": {"x": "other"}}]),
    ):
        got = wandb_scan(user, run, tmp_path)
        # wandb-core writes a whole float as an int (1.0 -> 1): none is logged here
        assert [sorted_json(r) for r in got] == [sorted_json(r) for r in logged]


def test_signed_export_urls_refuse_tampering(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="pq")
    log_history(user, run, tricky_rows(20))
    finish(user, run)
    (url,) = parquet_urls(user, run)
    assert httpx.get(url).status_code == 200
    assert httpx.get(url.replace("signature=", "signature=0")).status_code == 403


def test_active_runs_are_served_live_and_ended_runs_exported(user: User) -> None:
    # wandb-core re-reads the page at the live boundary over GraphQL without dropping the
    # rows it took from parquet: a run still being written must have no exports at all.
    api = make_api(user)
    run = new_run(api, user, project="pq")
    log_history(user, run, tricky_rows(120), chunk=40)
    assert parquet_urls(user, run) == []
    frame = run.scan_history().to_pandas()
    assert list(frame["_step"]) == list(range(120))
    log_history(user, run, tricky_rows(30, start=120), offset=120)
    finish(user, run)
    (before,) = parquet_urls(user, run)  # ended: all 150 rows exported
    frame = run.scan_history().to_pandas()
    same_frames(frame, run.scan_history().to_pandas(parquet=False))
    assert list(frame["_step"]) == list(range(150))
    # rewriting an exported line makes the exports stale: dropped, then made anew
    log_history(user, run, [{"_step": 5, "loss": 0.5}], offset=5)
    assert parquet_urls(user, run) == []  # the post made the run running again
    finish(user, run)
    (after,) = parquet_urls(user, run)
    assert after.split("?")[0] != before.split("?")[0]
    assert httpx.get(before).status_code == 404
    assert run.scan_history().to_pandas()["loss"][5] == 0.5
    same_frames(run.scan_history().to_pandas(), run.scan_history().to_pandas(parquet=False))


def test_deleting_a_run_removes_its_exports(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="pq")
    log_history(user, run, tricky_rows(20))
    finish(user, run)
    (url,) = parquet_urls(user, run)
    run_db_id = run_db_id_of(user, run.id, project="pq")
    folder = user.server.data_dir / "files" / "history-exports" / str(run_db_id)
    assert any(folder.iterdir())
    run.delete()
    assert not folder.exists()
    gone = httpx.get(url)  # the signed URL died with its run
    assert gone.status_code == 403
    assert "its run was deleted" in gone.text


def test_exports_switched_off(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNAPI_HISTORY_EXPORTS", "0")
    api = make_api(user)
    run = new_run(api, user, project="pq")
    log_history(user, run, tricky_rows(40))
    finish(user, run)
    assert parquet_urls(user, run) == []
    assert len(run.scan_history().to_pandas()) == 40


class NoParquetField(httpx.BaseTransport):
    """A server without `parquetHistory`: answers that operation with GraphQL's error."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if b"GetRunParquetHistory" in request.read():
            self.refused += 1
            message = "Cannot query field 'parquetHistory' on type 'Run'."
            return httpx.Response(200, json={"errors": [{"message": message}], "data": None})
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_falls_back_without_parquet_field(user: User) -> None:
    transport = NoParquetField()
    api = make_api(user, transport=transport)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(60)
    log_history(user, run, rows)
    finish(user, run)  # an ended run: its exports are asked for, and the field refused
    frame = run.scan_history().to_pandas()
    assert transport.refused == 1
    assert len(frame) == 60
    assert json.dumps(frame["hist"][5]) == json.dumps(rows[5]["hist"])


class Operations(httpx.BaseTransport):
    """Passes requests to the real server and records each GraphQL operation's name."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.names: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/graphql"):
            self.names.append(str(json.loads(request.content).get("operationName")))
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_run_still_logged_to_is_read_without_asking_for_exports(user: User) -> None:
    """This server lists every row of a running run as live data: asking costs more than
    reading the rows, so frames and tables of a running run come from GraphQL pages."""
    transport = Operations()
    api = make_api(user, transport=transport)
    run = new_run(make_api(user), user, project="pq")
    rows = tricky_rows(60)
    log_history(user, run, rows, chunk=30)
    live = api.run("/".join(run.path))
    frame = live.scan_history().to_pandas()
    table = live.scan_history().to_arrow()
    assert "GetRunParquetHistory" not in transport.names, transport.names
    same_frames(frame, live.scan_history().to_pandas(parquet=False))
    assert table.num_rows == 60 and list(frame["_step"]) == list(range(60))
    finish(user, run)
    live.scan_history().to_pandas()  # ended: now read from its exports
    assert transport.names.count("GetRunParquetHistory") == 1
