"""`NumberFrame`: export parts' number columns copied into one frame as the parts arrive,
equal to joining the parts in arrow (`exports_frame`); the parts it refuses, and the
hand-over to `exports_frame` from the rows it holds."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
import pytest

from runapi._export_frame import NumberFrame
from runapi._parquet import exports_frame


def joined(tables: list[pa.Table]) -> pd.DataFrame:
    return exports_frame([(table, set()) for table in tables])


def streamed(tables: list[pa.Table], capacity: int) -> tuple[pd.DataFrame, int]:
    """The frame read as `HistoryExports.frames` reads it, and how many tables
    `NumberFrame` took before handing over."""
    numbers = NumberFrame(capacity)
    for index, table in enumerate(tables):
        if not numbers.add(table):
            rest = [(numbers.table(), set[str]()), *((t, set[str]()) for t in tables[index:])]
            return exports_frame(rest), index
    return numbers.frame(), len(tables)


NUMBERS = [
    pa.table({"_step": [0, 1, 2], "loss": [0.5, math.nan, None], "big": [2**62, -(2**63), 7]}),
    pa.table({"_step": [3, 4], "big": [1, 2], "val": [1.5, -0.0]}),  # loss missing, val new
    pa.table({"_step": [5, 6], "loss": [math.inf, 1.0], "big": [3, 4], "val": [None, 2.0]}),
]


def test_number_parts_make_the_joined_frame() -> None:
    frame, taken = streamed(NUMBERS, capacity=10)
    assert taken == 3
    pd.testing.assert_frame_equal(frame, joined(NUMBERS))
    assert list(frame.columns) == ["_step", "loss", "big", "val"]
    assert frame["big"].dtype == "int64" and frame["big"][1] == -(2**63)
    assert math.isnan(frame["loss"][2]) and math.isnan(frame["loss"][3])
    assert math.isnan(frame["val"][0]) and math.copysign(1.0, frame["val"][4]) == -1.0


@pytest.mark.parametrize(
    ("later", "why"),
    [
        (
            pa.table({"_step": [7], "loss": [1.0], "big": [4], "n": [1]}),
            "an int column first in a later part",
        ),
        (
            pa.table({"_step": [7, 8], "big": pa.array([4, None], pa.int64())}),
            "an int column with a null",
        ),
        (pa.table({"_step": [7], "loss": [1.0]}), "an int column missing from a part"),
        (pa.table({"_step": [7], "big": [4], "tag": ["x"]}), "a string column"),
        (pa.table({"_step": [7], "big": [4], "flag": [True]}), "a bool column"),
        (pa.table({"_step": [7], "big": [4], "loss": [1]}), "a float column holding an int"),
        (pa.table({"_step": [7], "big": [4.5]}), "an int column holding a float"),
        (pa.table({"_step": [7], "big": [4], "v": [[1.0]]}), "a list column"),
    ],
)
def test_a_part_it_cannot_hold_hands_over_to_the_joined_frame(later: pa.Table, why: str) -> None:
    tables = [*NUMBERS, later]
    try:
        expected = joined(tables)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # no joined table: frames per part
        expected = pd.concat([joined([t]) for t in tables], ignore_index=True, sort=False)
    frame, taken = streamed(tables, capacity=10)
    assert taken == 3, why
    pd.testing.assert_frame_equal(frame, expected)


def test_more_rows_than_the_capacity_hand_over() -> None:
    frame, taken = streamed(NUMBERS, capacity=5)
    assert taken == 2
    pd.testing.assert_frame_equal(frame, joined(NUMBERS))


def test_nothing_added() -> None:
    numbers = NumberFrame(0)
    assert numbers.add(pa.table({"_step": pa.array([], pa.int64())}))
    assert numbers.rows == 0 and numbers.frame().empty and numbers.table().num_columns == 0
