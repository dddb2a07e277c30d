"""`runapi._json.fast_loads` gives exactly what the standard json module gives."""

from __future__ import annotations

import json

import pytest

from runapi._json import fast_loads

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
