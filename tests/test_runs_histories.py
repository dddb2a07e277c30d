"""Runs.histories: many runs' histories as one long frame (sampled, full, aligned), against
the real local server, with exact values."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from conftest import Server, User
from seeding import close_apis, finish, log_history, make_api, new_run

import runapi
from runapi.filters import Name

__all__ = ["close_apis"]

PROJECT = "many"
ROWS: dict[str, list[dict[str, Any]]] = {
    "ra": [{"_step": i, "_runtime": 2.0 * i, "loss": float(i)} for i in range(5)],
    "rb": [{"_step": i, "_runtime": 1.0 * i, "loss": 10.0 * i, "acc": 0.5} for i in range(3)],
    "rc": [],  # no history: left out of the long frame
    "rd": [{"_step": i, "_runtime": 1.0 * i, "loss": -1.0, "note": "x"} for i in range(2)],
}


@pytest.fixture(scope="module")
def owner(live_server: Server) -> Iterator[User]:
    name = f"histories{time.monotonic_ns()}"
    user = User(name=name, api_key=live_server.create_user(name), server=live_server)
    with runapi.Api(api_key=user.api_key, base_url=live_server.url) as api:
        for run_id, rows in ROWS.items():
            run = new_run(api, user, project=PROJECT, run_id=run_id)
            if rows:
                log_history(user, run, rows)
            finish(user, run)
    yield user


def runs(owner: User, **kwargs: Any) -> runapi.Runs:
    return make_api(owner).runs(f"{owner.entity}/{PROJECT}", **kwargs)


def expected(keys: list[str], run_ids: list[str] | None = None) -> pd.DataFrame:
    records = [
        {"run_id": run_id, **{k: row[k] for k in keys if k in row}}
        for run_id, rows in ROWS.items()
        if run_ids is None or run_id in run_ids
        for row in rows
    ]
    return pd.DataFrame.from_records(records, columns=["run_id", *keys])


def test_sampled_histories_one_long_frame(owner: User) -> None:
    frame = runs(owner).histories(samples=100)
    pd.testing.assert_frame_equal(frame, expected(["_step", "_runtime", "loss", "acc", "note"]))
    # Each run's rows are exactly what run.history gives, one run after another.
    api = make_api(owner)
    for run_id in ("ra", "rb", "rd"):
        one = api.run(f"{owner.entity}/{PROJECT}/{run_id}").history(samples=100)
        part = frame[frame["run_id"] == run_id].drop(columns="run_id").dropna(axis=1, how="all")
        pd.testing.assert_frame_equal(part.reset_index(drop=True), one)


def test_sampled_histories_with_keys_and_filter(owner: User) -> None:
    frame = runs(owner).histories(samples=100, keys=["loss"])
    assert list(frame.columns) == ["run_id", "loss", "_step"]
    assert frame["run_id"].tolist() == ["ra"] * 5 + ["rb"] * 3 + ["rd"] * 2
    assert frame["loss"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 10.0, 20.0, -1.0, -1.0]
    assert frame["_step"].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1]
    only_b = runs(owner, filters=Name.in_(["rb", "rc"])).histories(samples=2, keys=["loss"])
    api = make_api(owner)
    one = api.run(f"{owner.entity}/{PROJECT}/rb").history(samples=2, keys=["loss"])
    assert only_b["run_id"].tolist() == ["rb"] * len(one) and len(one) == 2
    pd.testing.assert_frame_equal(only_b.drop(columns="run_id"), one)
    by_time = runs(owner, filters=Name == "ra").histories(keys=["loss"], x_axis="_runtime")
    assert by_time.to_dict("list") == {
        "run_id": ["ra"] * 5,
        "loss": [0.0, 1.0, 2.0, 3.0, 4.0],
        "_runtime": [0.0, 2.0, 4.0, 6.0, 8.0],
    }


def test_full_histories_through_fast_path(owner: User) -> None:
    frame = runs(owner).histories(samples=None)
    pd.testing.assert_frame_equal(frame, expected(["_step", "_runtime", "loss", "acc", "note"]))
    keyed = runs(owner).histories(samples=None, keys=["loss"])
    assert keyed["loss"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 10.0, 20.0, -1.0, -1.0]
    assert keyed["run_id"].tolist() == ["ra"] * 5 + ["rb"] * 3 + ["rd"] * 2


def test_aligned_on_a_step_grid(owner: User) -> None:
    frame = runs(owner, filters=Name.in_(["ra", "rb"])).histories(samples=None, align=3)
    # grid: 3 points from the smallest to the largest step of all runs: 0, 2, 4.
    assert list(frame.columns) == ["run_id", "_step", "_runtime", "loss", "acc"]
    assert frame["run_id"].tolist() == ["ra", "ra", "ra", "rb", "rb", "rb"]
    assert frame["_step"].tolist() == [0.0, 2.0, 4.0, 0.0, 2.0, 4.0]
    got = frame["loss"].tolist()
    assert got[:5] == [0.0, 2.0, 4.0, 0.0, 20.0] and math.isnan(got[5])  # rb ends at step 2
    acc = frame["acc"].tolist()
    assert all(math.isnan(v) for v in acc[:3]) and acc[3:5] == [0.5, 0.5] and math.isnan(acc[5])
    explicit = runs(owner, filters=Name.in_(["ra", "rb"])).histories(
        samples=None, keys=["loss"], align=[1.5, 0.5]
    )
    assert explicit.to_dict("list") == {
        "run_id": ["ra", "ra", "rb", "rb"],
        "_step": [0.5, 1.5, 0.5, 1.5],
        "loss": [0.5, 1.5, 5.0, 15.0],
    }


def test_aligned_on_a_time_grid(owner: User) -> None:
    frame = runs(owner, filters=Name.in_(["ra", "rb", "rd"])).histories(
        samples=None, keys=["loss"], x_axis="_runtime", align=[1.0, 3.0]
    )
    # _step (which full scans add) is interpolated like any numeric column.
    assert list(frame.columns) == ["run_id", "_runtime", "loss", "_step"]
    assert frame["run_id"].tolist() == ["ra", "ra", "rb", "rb", "rd", "rd"]
    assert frame["_runtime"].tolist() == [1.0, 3.0] * 3
    loss = frame["loss"].tolist()
    assert [loss[0], loss[1], loss[2], loss[4]] == [0.5, 1.5, 10.0, -1.0]
    assert math.isnan(loss[3]) and math.isnan(loss[5])  # past rb's and rd's last runtime
    step = frame["_step"].tolist()
    assert [step[0], step[1], step[2], step[4]] == [0.5, 1.5, 1.0, 1.0]
    # Non-numeric columns are dropped.
    only_d = runs(owner, filters=Name == "rd").histories(samples=None, align=2)
    assert only_d.to_dict("list") == {
        "run_id": ["rd", "rd"],
        "_step": [0.0, 1.0],
        "_runtime": [0.0, 1.0],
        "loss": [-1.0, -1.0],
    }


def test_arrow_and_polars(owner: User) -> None:
    pytest.importorskip("polars")  # the polars extra; absent from a '.[server]' install
    table = runs(owner).histories(samples=100, keys=["loss"], format="arrow")
    assert table.column_names == ["run_id", "loss", "_step"]
    assert table.column("run_id").to_pylist() == ["ra"] * 5 + ["rb"] * 3 + ["rd"] * 2
    assert table.column("loss").to_pylist()[5:8] == [0.0, 10.0, 20.0]
    frame = runs(owner, filters=Name == "rd").histories(samples=None, format="polars")
    assert frame.to_dicts() == [
        {"run_id": "rd", "_step": 0, "_runtime": 0.0, "loss": -1.0, "note": "x"},
        {"run_id": "rd", "_step": 1, "_runtime": 1.0, "loss": -1.0, "note": "x"},
    ]


def test_no_matching_runs(owner: User) -> None:
    frame = runs(owner, filters=Name == "nope").histories()
    assert list(frame.columns) == ["run_id"] and len(frame) == 0
    assert runs(owner, filters=Name == "rc").histories(samples=None, align=4).shape == (0, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "csv"}, "format must be 'pandas', 'polars' or 'arrow'"),
        ({"samples": 0}, "samples must be None or an int >= 1"),
        ({"align": 1}, "align must be an int >= 2"),
        ({"align": "steps"}, "align must be None, an int >= 2 or a list"),
        ({"align": [1, "x"]}, "align's x values must be numbers"),
        ({"keys": "loss"}, "keys must be a list"),
        ({"x_axis": ""}, "x_axis must be a non-empty str"),
        ({"max_workers": 0}, "max_workers must be an int >= 1"),
    ],
)
def test_bad_arguments(owner: User, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        runs(owner).histories(**kwargs)


def test_run_ids_lists_only_ids(owner: User) -> None:
    assert runs(owner).run_ids() == ["ra", "rb", "rc", "rd"]
    assert runs(owner, order="-created_at", filters=~(Name == "rc")).run_ids() == [
        "rd",
        "rb",
        "ra",
    ]
    loaded = runs(owner)
    assert len(list(loaded)) == 4
    assert loaded.run_ids() == ["ra", "rb", "rc", "rd"]


def test_runs_with_the_same_columns_give_the_frame_per_run_concatenation(
    owner: User,
) -> None:
    """Runs logging the same numeric keys take the one-step build of the long frame; it
    equals the per-run `run.history` frames concatenated (wandb's `Runs.histories`)."""
    project = "same-columns"
    api = make_api(owner)
    for n, run_id in enumerate(["s1", "s2", "s3"]):
        run = new_run(api, owner, project=project, run_id=run_id)
        rows = [
            {"_step": i, "_runtime": 0.5 * i, "loss": 1.0 / (i + n + 1), "acc": math.inf}
            for i in range(40 + 10 * n)
        ]
        log_history(owner, run, rows)
        finish(owner, run)
    listing = api.runs(f"{owner.entity}/{project}")
    for kwargs in ({"samples": 25}, {"samples": 500}, {"samples": 10, "keys": ["loss"]}):
        frame = listing.histories(**kwargs)  # type: ignore[arg-type]
        parts = []
        for run_id in ("s1", "s2", "s3"):
            part = api.run(f"{owner.entity}/{project}/{run_id}").history(**kwargs)  # type: ignore[arg-type]
            part.insert(0, "run_id", run_id)
            parts.append(part)
        expected = pd.concat(parts, ignore_index=True, sort=False)
        pd.testing.assert_frame_equal(frame, expected, check_exact=True)
        assert frame["run_id"].value_counts().to_dict()["s3"] == min(60, kwargs["samples"])
