"""`runapi._json.fast_loads` gives exactly what the standard json module gives."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from runapi._json import ColumnBuilder, decode_rows, fast_loads

CASES = [
    '{"_step": 1, "loss": 0.25, "acc": 1}',
    '{"a": NaN, "b": Infinity, "c": -Infinity}',
    '[{"x": {"y": [1, 2.5, null, true, "s"]}}]',
    '{"big": 18446744073709551617, "neg": -9223372036854775809}',
    '{"nineteen": 1234567890123456789, "frac": 0.12345678901234567890123}',
    '{"exp": 1e300, "tiny": 5e-324, "huge": 1e400}',
    '{"text": "caf\\u00e9 \\ud83d\\ude00", "lone": "\\ud800"}',
    '{"digits in a string": "12345678901234567890123"}',
    "  [1, 2, 3]  ",
    '{"deep": [{"x": [1, {"y": 18446744073709551616}]}], "z": -18446744073709551616}',
    '{"u64": 18446744073709551615, "i64": -9223372036854775808, "f": 1e19, "g": -9.3e18}',
    '{"history": ["{\\"a\\": 123456789012345678901234567890}"]}',
]


@pytest.mark.parametrize("text", CASES)
def test_same_values_as_the_stdlib(text: str) -> None:
    expected = json.loads(text)
    for data in (text, text.encode("utf-8", "surrogatepass")):
        got = fast_loads(data)
        # json.dumps compares NaN and the exact int/float types the way equality cannot
        assert json.dumps(got) == json.dumps(expected)
        assert type(got) is type(expected)


def test_big_integers_stay_integers() -> None:
    value = fast_loads(b'{"n": 123456789012345678901234567890}')
    assert value["n"] == 123456789012345678901234567890
    assert isinstance(value["n"], int)


@pytest.mark.parametrize("bad", ["{", '{"a": }', "[1, 2", "nul", ""])
def test_invalid_json_raises_the_stdlib_error(bad: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        fast_loads(bad)


def test_deep_nesting_decodes_like_the_stdlib() -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(RecursionError):
        fast_loads(deep)
    fine = "[" * 200 + "18446744073709551617" + "]" * 200
    assert json.dumps(fast_loads(fine)) == json.dumps(json.loads(fine))


ROW_PAGES = [
    ['{"_step": 0, "a": 1.5, "n": 1}', '{"_step": 1, "a": 2.5, "n": 2}'],
    ['{"_step": 2, "a": NaN, "n": 3}', '{"_step": 3, "a": Infinity, "n": 4}'],
    ['{"_step": 4, "a": 1e19, "n": 18446744073709551617}', '{"_step": 5, "n": 5}'],
    ['{"_step": 6, "a": -1.0, "n": 9223372036854775808, "b": true}'],
    ['{"_step": 7, "n": 6, "c": {"x": [-18446744073709551617]}}', '{"n": 7, "_step": 8}'],
    ['{"_step": 9, "a": 3.5, "n": 8, "s": "12345678901234567890123"}'],
    ['{"_step": 10, "a": 4.5, "n": -9223372036854775809}'],
    ['{"_step": 11, "a": 0.5, "n": 10}', '{"_step": 12, "a": 0.25, "n": 11}'],
    [  # one NaN row among plain ones: orjson for the others, the stdlib for it
        '{"_step": 13, "a": NaN, "n": 12}',
        '{"_step": 14, "a": 0.75, "n": 13, "s": "caf\\u00e9"}',
        '{"_step": 15, "a": -Infinity, "n": 14, "c": {"x": [1]}}',
    ],
    ['{"_step": 16, "a": NaN, "n": 18446744073709551618}', '{"_step": 17, "a": 1.0, "n": 15}'],
]


def _expected_frame(pages: list[list[str]]) -> pd.DataFrame:
    rows = [json.loads(text) for page in pages for text in page]
    names = list(dict.fromkeys(key for row in rows for key in row))
    return pd.DataFrame({name: [row.get(name) for row in rows] for name in names})


def _frame_from_texts(pages: list[list[str]]) -> pd.DataFrame:
    columns = ColumnBuilder()
    for page in pages:
        columns.add_texts(page)
    return columns.to_pandas()


@pytest.mark.parametrize("count", range(1, len(ROW_PAGES) + 1))
def test_row_texts_build_the_frame_the_stdlib_rows_give(count: int) -> None:
    pages = ROW_PAGES[:count]
    got = _frame_from_texts(pages)
    expected = _expected_frame(pages)
    pd.testing.assert_frame_equal(got, expected)
    assert json.dumps(got.to_dict("list")) == json.dumps(expected.to_dict("list"))
    by_rows = ColumnBuilder()
    for page in pages:
        by_rows.add(decode_rows(page))
    pd.testing.assert_frame_equal(by_rows.to_pandas(), expected)


def test_row_texts_keep_big_integers_exact() -> None:
    frame = _frame_from_texts(ROW_PAGES)
    values = dict(zip(frame["_step"], frame["n"], strict=True))
    assert values[4] == 18446744073709551617 and isinstance(values[4], int)
    assert values[10] == -9223372036854775809 and isinstance(values[10], int)
    assert frame["c"][7] == {"x": [-18446744073709551617]}
    assert list(frame.columns) == ["_step", "a", "n", "b", "c", "s"]


def test_uniform_pages_get_the_inferred_dtypes() -> None:
    pages = [ROW_PAGES[0], ROW_PAGES[-1]]
    frame = _frame_from_texts(pages)
    assert frame["_step"].dtype == "int64" and frame["a"].dtype == "float64"
    pd.testing.assert_frame_equal(frame, _expected_frame(pages))


@pytest.mark.parametrize(
    "page",
    [
        ['{"a": 1}', "{"],
        ['{"a": 1}', "[1]"],
        ['{"a": 1}, {"b": 2}'],
        ['{"a": 1', '"b": 2}'],
        ['{"a": NaN}', "{"],  # NaN rows go to the stdlib, the others together
        ['{"a": NaN}', '{"a": 1}, {"b": 2}'],
        ['{"a": NaN', '"b": 2}'],
    ],
)
def test_row_texts_that_are_not_one_object_each_raise(page: list[str]) -> None:
    from runapi import ResponseValidationError

    with pytest.raises(ResponseValidationError):
        ColumnBuilder().add_texts(page)


def test_sparse_rows_with_nan_keep_their_values_and_dtypes() -> None:
    """Rows missing keys (a column of floats and gaps) with NaN and a text holding "NaN"
    in a string: decoded on the fast path, equal to the stdlib's rows."""
    page = [
        '{"_step": 0, "loss": 0.5, "note": "NaNa"}',
        '{"_step": 1, "loss": NaN, "val": 1.5}',
        '{"_step": 2, "val": -Infinity}',
        '{"_step": 3, "loss": 2.5, "val": 1e19}',
    ]
    pd.testing.assert_frame_equal(_frame_from_texts([page]), _expected_frame([page]))
    pd.testing.assert_frame_equal(_frame_from_texts([page[:2]]), _expected_frame([page[:2]]))
