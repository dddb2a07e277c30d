"""`long_frame_of_columns`: the long frame of many runs built in one step when every run
has the same columns of the same dtypes; equal (values, dtypes, column order) to the
frame-per-run concatenation `long_frame` in every case."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import pytest

from runapi._align import long_frame, long_frame_of_columns
from runapi._json import ColumnBuilder


def builder(rows: list[dict[str, Any]], texts: bool = False) -> ColumnBuilder:
    columns = ColumnBuilder()
    if texts:
        columns.add_texts([json.dumps(row) for row in rows])
    else:
        columns.add(rows)
    return columns


def steps(n: int, start: int = 0, **extra: Any) -> list[dict[str, Any]]:
    return [{"_step": start + i, "loss": 1.0 / (i + 1), **extra} for i in range(n)]


CASES: dict[str, list[list[dict[str, Any]]]] = {
    "same numeric columns": [steps(3), steps(2, 10), [], steps(4, 5)],
    "one run": [steps(3)],
    "no rows": [[], []],
    "a column only some runs have": [steps(2), steps(2, extra=1.5)],
    "int in one run, float in another": [
        [{"_step": 0, "v": 1}, {"_step": 1, "v": 2}],
        [{"_step": 0, "v": 1.5}],
    ],
    "strings and bools": [steps(2, note="x", ok=True), steps(1, note="y", ok=False)],
    "strings missing in a run": [steps(2, note="x"), steps(2)],
    "nulls": [[{"_step": 0, "v": None}], [{"_step": 0, "v": 2.0}]],
    "NaN and infinity": [steps(1, v=math.nan), steps(1, v=math.inf)],
    "other key order": [[{"_step": 0, "a": 1.0, "b": 2.0}], [{"_step": 0, "b": 3.0, "a": 4.0}]],
    "nested values": [steps(1, cfg={"a": 1}), steps(1, cfg={"a": 2})],
}


@pytest.mark.parametrize("texts", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_equals_the_frame_per_run_concatenation(name: str, texts: bool) -> None:
    runs = CASES[name]
    ids = [f"r{i}" for i in range(len(runs))]
    built = long_frame_of_columns(ids, [builder(rows, texts) for rows in runs])
    expected = long_frame(ids, [builder(rows, texts).to_pandas() for rows in runs])
    pd.testing.assert_frame_equal(built, expected, check_exact=True)


def test_one_step_frame_values() -> None:
    frame = long_frame_of_columns(
        ["a", "b", "c"], [builder(steps(2)), builder([]), builder(steps(1, 7))]
    )
    assert frame.to_dict("list") == {
        "run_id": ["a", "a", "c"],
        "_step": [0, 1, 7],
        "loss": [1.0, 0.5, 1.0],
    }
    assert str(frame["_step"].dtype) == "int64" and str(frame["loss"].dtype) == "float64"
