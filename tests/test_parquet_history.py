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
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, User, load_operation
from databases import read, use_test_database
from seeding import close_apis, finish, log_history, make_api, new_run
from test_server_files import run_db_id_of

import runapi

sys.path.insert(0, str(ROOT / "tests" / "sdk"))
from venvs import LATEST_WANDB, sdk_python

__all__ = ["close_apis"]
READ_BACK = ROOT / "tests" / "sdk" / "read_back.py"


def tricky_rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for step in range(start, start + n):
        row: dict[str, Any] = {"_step": step, "loss": 1.0 / (step + 1), "count": step * 3}
        if step % 7 == 0:
            row["loss"] = math.nan
        if step % 11 == 0:
            row["loss"] = -math.inf if step % 2 else math.inf
        if step % 5 == 0:
            row["hist"] = {"_type": "histogram", "bins": [0, 1, step], "values": [step, 2]}
        if step % 3 == 0:
            row["tag"] = f"t{step}"
        row["flag"] = step % 2 == 0
        row["big"] = 2**60 + step
        row["vec"] = [step * 0.5, math.nan if step % 2 else -math.inf, None]
        row["deep"] = {"x": step, "y": {"z": [[step], []], "w": None if step % 3 else "s"}}
        rows.append(row)
    return rows


def with_mixed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` plus a key no parquet column holds exactly (a list, a null, an int)."""
    for row in rows:
        step = row["_step"]
        row["mixed"] = [step, "x"] if step % 4 == 0 else (None if step % 4 == 1 else step)
    return rows


def export_tables(urls: list[str]) -> list[pa.Table]:
    return [pq.read_table(io.BytesIO(httpx.get(url).content)) for url in urls]


def live_steps(user: User, run: runapi.Run) -> list[int]:
    body = {
        "query": load_operation("get_run_parquet_history"),
        "variables": {
            "entity": run.entity,
            "project": run.project,
            "name": run.id,
            "liveKeys": ["_step"],
        },
    }
    with user.http() as client:
        data = client.post("/graphql", json=body).json()
    return [r["_step"] for r in data["data"]["project"]["run"]["parquetHistory"]["liveData"]]


def assert_logged(frame: pd.DataFrame, rows: list[dict[str, Any]]) -> None:
    """Each cell of `frame` is exactly the value logged (same JSON text: ints stay ints,
    NaN and infinities kept); a key a row lacks is a null cell."""
    assert len(frame) == len(rows)
    for got, row in zip(frame.to_dict("records"), rows, strict=True):
        for key, value in got.items():
            if key in row:
                assert json.dumps(value) == json.dumps(row[key]), (row["_step"], key)
            else:
                assert value is None or (isinstance(value, float) and math.isnan(value))


def parquet_urls(user: User, run: runapi.Run) -> list[str]:
    body = {
        "query": load_operation("get_run_parquet_history"),
        "variables": {
            "entity": run.entity,
            "project": run.project,
            "name": run.id,
            "liveKeys": ["_step"],
        },
    }
    with user.http() as client:
        data = client.post("/graphql", json=body).json()
    assert not data.get("errors"), data
    urls: list[str] = data["data"]["project"]["run"]["parquetHistory"]["parquetUrls"]
    return urls


def same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


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
    assert parquet_urls(user, run) == [] and httpx.get(url).status_code == 404
    assert live_steps(user, run) == list(range(100))
    assert parquet_urls(user, run) == []  # the marker: nothing is made again
    exported = run.scan_history().to_pandas()
    same_frames(exported, run.scan_history().to_pandas(parquet=False))
    assert_logged(exported, rows)
    log_history(user, run, [{**rows[60], "loss": 0.5}], offset=60)
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
    frame = run.scan_history().to_pandas()
    assert transport.refused == 1
    assert len(frame) == 60
    assert json.dumps(frame["hist"][5]) == json.dumps(rows[5]["hist"])


def export_records(user: User, run: runapi.Run) -> list[tuple[int, int, int, str]]:
    """The run's `history_exports` records (first line, last line, rows, path), read from
    the server's database (read-only) once the exporter has caught up with the posts."""
    from runapi_server import export_worker

    assert export_worker.wait_idle(user.server.data_dir)
    return [
        (int(r[0]), int(r[1]), int(r[2]), str(r[3]))
        for r in read(user.server.data_dir)
        .execute(
            "SELECT e.first_line, e.last_line, e.row_count, e.path FROM history_exports AS e"
            " JOIN runs ON runs.id = e.run_id WHERE runs.name = ? ORDER BY e.first_line",
            (run.id,),
        )
        .tuples()
    ]


def log_settled(user: User, run: runapi.Run, rows: list[dict[str, Any]], chunk: int) -> None:
    """`log_history` a chunk at a time, each exported before the next is posted (so the
    parts' layout does not depend on how far the exporter thread lags)."""
    from runapi_server import export_worker

    for start in range(0, len(rows), chunk):
        log_history(user, run, rows[start : start + chunk], offset=start, chunk=chunk)
        assert export_worker.wait_idle(user.server.data_dir)


def small_parts(monkeypatch: pytest.MonkeyPatch, flush: int, part: int) -> None:
    from runapi_server import parquet_export

    monkeypatch.setattr(parquet_export, "FLUSH_ROWS", flush)
    monkeypatch.setattr(parquet_export, "PART_ROWS", part)


def test_exports_kept_current_as_history_arrives(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts are written by the posts themselves (every FLUSH_ROWS lines, the rest with the
    run's last post) and small ones merged: a finished run is read with no export step."""
    small_parts(monkeypatch, flush=50, part=200)
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(530)
    for row in rows:  # a float past int64 (what orjson makes of a huge int), int64's least
        row["low"] = -(2**63) + row["_step"]  # dense: pandas makes sparse ints floats
        if row["_step"] % 9 == 0:
            row["huge"] = 1e19
    for row in rows[::13]:
        row["text"] = "ünïcødé ✓ \U0001f600"
    log_settled(user, run, rows, chunk=30)
    written = export_records(user, run)
    assert written and written[0][0] == 0 and written[-1][1] >= 480  # while active
    assert parquet_urls(user, run) == []  # an active run is served live (wandb-core)
    finish(user, run)
    records = export_records(user, run)
    # parts of 60 lines (two posts) merged once they reach 200 lines, the rest at the end
    assert [(r[0], r[1]) for r in records] == [(0, 239), (240, 479), (480, 529)]
    assert [r[2] for r in records] == [240, 240, 50]
    urls = parquet_urls(user, run)
    assert export_records(user, run) == records  # the read exported nothing
    assert len(urls) == 3
    exported = run.scan_history().to_pandas()
    same_frames(exported, run.scan_history().to_pandas(parquet=False))
    assert_logged(exported, rows)
    assert exported["huge"][9] == 1e19 and exported["low"][0] == -(2**63)
    assert exported["text"][13] == "ünïcødé ✓ \U0001f600"


def test_resent_chunks_keep_exports_and_rewrites_drop_from_there(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_parts(monkeypatch, flush=50, part=100)
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(250)
    log_settled(user, run, rows, chunk=50)
    finish(user, run)
    first = export_records(user, run)
    assert [(r[0], r[1]) for r in first] == [(0, 99), (100, 199), (200, 249)]
    log_history(user, run, rows[100:150], offset=100)  # the SDK re-sends a chunk as is
    assert export_records(user, run) == first
    rows[160] = {**rows[160], "loss": 0.25}
    log_history(user, run, rows[150:200], offset=150)  # line 160 changes
    again = export_records(user, run)  # parts from line 160 on are made again, by the post
    assert again[0] == first[0] and [(r[0], r[1]) for r in again] == [(r[0], r[1]) for r in first]
    assert not {r[3] for r in again[1:]} & {r[3] for r in first}
    assert len(parquet_urls(user, run)) == 3 and export_records(user, run) == again
    frame = run.scan_history().to_pandas()
    assert_logged(frame, rows)
    assert frame["loss"][160] == 0.25


def test_a_damaged_part_is_made_again(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts are not synced (they copy rows SQLite holds durably): one that a power loss
    left short or missing is found at read and made again from the rows."""
    small_parts(monkeypatch, flush=40, part=40)
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(120)
    log_settled(user, run, rows, chunk=40)
    finish(user, run)
    records = export_records(user, run)
    assert len(records) == 3
    part = user.server.data_dir / records[1][3]
    part.write_bytes(part.read_bytes()[:100])  # cut short
    (user.server.data_dir / records[2][3]).unlink()  # lost
    urls = parquet_urls(user, run)
    again = export_records(user, run)
    assert len(urls) == 3 and again[0] == records[0] and again[1][3] != records[1][3]
    assert [(r[0], r[1]) for r in again] == [(r[0], r[1]) for r in records]
    assert_logged(run.scan_history().to_pandas(), rows)


def test_parts_whose_types_differ_stay_apart_and_read_exactly(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key that is an int in one part and a string in the next: the parts are not merged
    (no column holds both), and the frame joins them as pandas would."""
    small_parts(monkeypatch, flush=30, part=90)
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(120)
    for row in rows:
        row["kind"] = row["_step"] if row["_step"] < 60 else f"k{row['_step']}"
    log_settled(user, run, rows, chunk=30)
    finish(user, run)
    records = export_records(user, run)
    assert [(r[0], r[1]) for r in records] == [(0, 59), (60, 119)]  # ints, then strings
    frame = run.scan_history().to_pandas()
    same_frames(frame, run.scan_history().to_pandas(parquet=False))
    assert_logged(frame, rows)
    assert frame["kind"][59] == 59 and frame["kind"][60] == "k60"


def test_a_post_chunk_held_for_the_exporter_is_not_used_once_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exporter reuses a post's decoded rows only while they are what is stored: a
    later post rewriting those lines wins, whichever path writes the part."""
    from runapi_server import export_worker, history, parquet_export
    from runapi_server.state import ServerState
    from runapi_server.timeutil import now_iso

    state = ServerState.open(use_test_database(tmp_path))
    with state.db.transaction() as conn:
        conn.execute("INSERT INTO users (name, created_at) VALUES ('u', ?)", (now_iso(),))
        conn.execute(
            "INSERT INTO projects (entity, name, created_at) VALUES ('u', 'p', ?)", (now_iso(),)
        )
        conn.execute(
            "INSERT INTO runs (project_id, name, user_id, state, created_at, updated_at,"
            " heartbeat_at) VALUES (1, 'r', 1, 'finished', ?, ?, ?)",
            (now_iso(), now_iso(), now_iso()),
        )
    texts = [json.dumps({"_step": i, "loss": i / 2}) for i in range(30)]
    held = history.parse_history("wandb-history.jsonl", 0, texts)
    rewrite = history.parse_history("wandb-history.jsonl", 10, ['{"_step": 10, "loss": -1.0}'])
    with state.db.transaction() as conn:
        history.store_history(conn, 1, held)
        history.store_history(conn, 1, rewrite)
    for write in ("unlocked", "locked"):
        with state.db.transaction() as conn:
            history.drop_exports(conn, 1)
        if write == "unlocked":
            monkeypatch.setattr(parquet_export, "FLUSH_ROWS", 5)
            assert parquet_export.write_part_unlocked(state, 1, export_worker.joined([held]))
        else:
            with state.db.transaction() as conn:
                parquet_export.export_pending(state, conn, 1, [held], final=True)
        (part,) = parquet_export.list_exports(state.db.read(), 1)
        table = pq.read_table(tmp_path / part.path)
        assert table.column("loss").to_pylist()[9:12] == [4.5, -1.0, 5.5], write
