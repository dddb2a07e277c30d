"""Parquet exports kept current as history arrives: parts, resent and rewritten chunks, damage."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from conftest import User
from databases import read, use_test_database
from history_exports import (
    assert_logged,
    export_tables,
    parquet_urls,
    same_frames,
    tricky_rows,
)
from seeding import close_apis, finish, log_history, make_api, new_run

import runapi

__all__ = ["close_apis"]


def export_records(user: User, run: runapi.Run) -> list[tuple[int, int, int, str]]:
    """The run's `history_exports` records (first line, last line, rows, path), read from
    the server's database once the exporter has caught up with the posts."""
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
    assert api.run("/".join(run.path)).state == "running"  # posts after the end: resumed
    finish(user, run)
    again = export_records(user, run)
    assert [(r[0], r[1]) for r in again] == [(r[0], r[1]) for r in first]
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
    later post rewriting those lines wins, whichever path writes the part. The run's
    `rewrites` count, which the exporter checks instead of reading the lines back,
    moves on with a write that changes stored lines, and only then."""
    from runapi_server import export_worker, history, parquet_export
    from runapi_server.state import ServerState
    from runapi_server.storage import history as history_store
    from runapi_server.storage import history_exports
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

    def rewrites() -> int:
        return history_store.stream_stats(state.db.read(), 1, history_store.HISTORY).rewrites

    with state.db.transaction() as conn:
        history_store.store_history(conn, 1, held)
    held_with = rewrites()
    with state.db.transaction() as conn:
        history_store.store_history(conn, 1, held)  # re-sent as it was: nothing changes
    assert rewrites() == held_with
    with state.db.transaction() as conn:
        history_store.store_history(conn, 1, rewrite)
    assert rewrites() == held_with + 1
    for write in ("unlocked", "locked"):
        with state.db.transaction() as conn:
            history_exports.drop_exports(conn, 1)
        if write == "unlocked":
            monkeypatch.setattr(parquet_export, "FLUSH_ROWS", 5)
            chunks = export_worker.joined([held])
            assert parquet_export.write_part_unlocked(state, 1, chunks, held_with)
        else:
            with state.db.transaction() as conn:
                parquet_export.export_pending(state, conn, 1, [held], final=True)
        (part,) = parquet_export.list_exports(state.db.read(), 1)
        table = pq.read_table(tmp_path / part.path)
        assert table.column("loss").to_pylist()[9:12] == [4.5, -1.0, 5.5], write


def test_a_resumed_run_keeps_the_parts_readers_hold(user: User) -> None:
    """wandb-core caches each downloaded part under the run's path and its index in
    `parquetUrls`, unchecked: the parts a run ended with are sealed, so a resumed run adds
    parts after them instead of merging its rows into a part readers already hold."""
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = tricky_rows(100)
    log_history(user, run, rows[:60])
    finish(user, run, exitcode=1)  # crashed
    (held,) = parquet_urls(user, run)
    held_bytes = httpx.get(held).content
    log_history(user, run, rows[60:], offset=60)  # resumed
    assert api.run("/".join(run.path)).state == "running"
    finish(user, run)
    urls = parquet_urls(user, run)
    assert len(urls) == 2 and urls[0].split("?")[0] == held.split("?")[0]
    assert httpx.get(urls[0]).content == held_bytes  # index 0 still holds rows 0..59
    assert [t.num_rows for t in export_tables(urls)] == [60, 40]
    assert api.run("/".join(run.path)).state == "finished"
    assert_logged(run.scan_history().to_pandas(), rows)


def test_parts_stay_near_part_rows_when_many_small_ones_are_left_at_the_end(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small parts left unmerged when the run ends (as the exporter leaves them when it
    writes off the request behind a fast ingest) are merged in groups of about PART_ROWS
    rows, not into one part of all of them (a reader holds one part at a time: a 10M-row
    scan stays within its memory)."""
    from runapi_server import parquet_export

    small_parts(monkeypatch, flush=20, part=10_000)  # no merge while the run is active
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = [{"_step": i, "loss": i / 7} for i in range(1000)]
    log_settled(user, run, rows, chunk=25)
    assert len(export_records(user, run)) == 40
    monkeypatch.setattr(parquet_export, "PART_ROWS", 100)  # the 40 parts are small now
    finish(user, run)
    records = export_records(user, run)
    assert records[0][0] == 0 and records[-1][1] == 999
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(records))
    assert [r[2] for r in records] == [100] * 10  # each group closed at 100 rows
    assert_logged(run.scan_history().to_pandas(), rows)


def number_rows(n: int) -> list[dict[str, Any]]:
    """Rows of numbers only (the parts a full read copies straight into its frame): NaN,
    infinity and -0.0, an int64 near its limit, a float first logged in a later part,
    and one missing from a whole part."""
    rows: list[dict[str, Any]] = []
    for step in range(n):
        row: dict[str, Any] = {"_step": step, "loss": 1.0 / (step + 1), "big": 2**62 + step}
        row["loss"] = math.nan if step % 7 == 0 else row["loss"]
        row["loss"] = -math.inf if step == 11 else -0.0 if step == 12 else row["loss"]
        if step >= 130:
            row["val"] = step * 0.5
        if step % 2 and not 60 <= step < 120:
            row["acc"] = step / n
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    "late",
    [None, "count", "note"],
    ids=["numbers only", "an int column from a later part", "a string column from a later part"],
)
def test_number_parts_are_read_into_one_frame_exactly(
    user: User, monkeypatch: pytest.MonkeyPatch, late: str | None
) -> None:
    """Parts of numbers are copied into the frame as they arrive; a part that cannot be
    (an int column missing from earlier parts, a string) hands over to joining in arrow.
    Either way the frame is the one GraphQL pages give."""
    small_parts(monkeypatch, flush=50, part=60)
    api = make_api(user)
    run = new_run(api, user, project="pq")
    rows = number_rows(300)
    for row in rows[200:]:
        if late == "count":
            row["count"] = row["_step"] * 3
        elif late == "note":
            row["note"] = f"n{row['_step']}"
    log_settled(user, run, rows, chunk=60)
    finish(user, run)
    records = export_records(user, run)
    assert len(records) == 5
    # each part written once, from its post's rows (no file left over from a second try)
    folder = (user.server.data_dir / records[0][3]).parent
    assert {p.name for p in folder.iterdir()} == {Path(r[3]).name for r in records}
    frame = run.scan_history().to_pandas()
    same_frames(frame, run.scan_history().to_pandas(parquet=False))
    if late != "count":  # an int column with missing rows is a float column in pandas
        assert_logged(frame, rows)
    assert list(frame.columns[:5]) == ["_step", "loss", "big", "acc", "val"]
    assert frame["big"].dtype == "int64" and frame["big"][299] == 2**62 + 299
    assert math.copysign(1.0, frame["loss"][12]) == -1.0
    assert math.isnan(frame["acc"][61]) and math.isnan(frame["val"][129])
    window = run.scan_history(min_step=90, max_step=250).to_pandas()
    same_frames(window, run.scan_history(min_step=90, max_step=250).to_pandas(parquet=False))
    keyed = run.scan_history(keys=["loss", "big"]).to_pandas()
    same_frames(keyed, run.scan_history(keys=["loss", "big"]).to_pandas(parquet=False))
