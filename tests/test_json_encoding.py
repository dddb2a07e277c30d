"""The server's response encoder: orjson where it writes the stdlib's exact bytes, the
stdlib (bare NaN / Infinity tokens) everywhere else."""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import pytest

from runapi_server.jsonresponse import encode_json, orjson_identical


def stdlib(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


TEXT = "".join(map(chr, range(0x80))) + "é中\u2028\u2029\ufeff😀"
ROW = json.dumps({"_step": 1, "loss": float("nan"), "name": TEXT})

CASES: list[Any] = [
    {"data": None},
    {"data": {"a": 1, "b": True, "c": None, "d": "x", "e": [], "f": {}}},
    {"data": {"text": TEXT, TEXT: [TEXT, {"k\n": TEXT}]}},
    {"data": {"history": [ROW] * 100, "short": [ROW]}},
    {"data": {"n": [0.0, -0.0, 0.1, 1e-4, 1.5, 1e15, 1e16, -1e22, 1.7976931348623157e308]}},
    {"data": {"n": [2**63 - 1, -(2**63), 2**64 - 1, 0, -1]}},
    {"data": {"tuple": (1, "a", 2.5)}},
    {"data": {"rows": [{"_step": i, "m": i * 0.5, "z": -0.0} for i in range(5)]}},
    {"errors": [{"message": "é", "path": ["a", 0], "extensions": {"code": "X"}}]},
]
STDLIB_ONLY: list[Any] = [
    {"data": {"rows": [{"m": 1.0}, {"m": float("nan")}, {"m": 2.0}]}},
    {"data": {"rows": [{"m": 1.0}, {"m": 3e-5}]}},
    {"data": {"x": float("nan")}},
    {"data": {"deep": [{"x": [float("inf")]}], "history": [ROW] * 100}},
    {"data": {"x": -float("inf")}},
    {"data": {"tiny": 1e-7}},
    {"data": {"tiny": [1.0, -2.5e-5]}},
    {"data": {"big": 2**64}},
    {"data": {"big": [-(2**70), 1]}},
]


@pytest.mark.parametrize("value", CASES + STDLIB_ONLY)
def test_bytes_are_the_stdlib_ones(value: Any) -> None:
    assert encode_json(value) == stdlib(value)


@pytest.mark.parametrize("value", CASES)
def test_plain_answers_take_orjson(value: Any) -> None:
    assert orjson_identical(value)


@pytest.mark.parametrize("value", STDLIB_ONLY[:7])
def test_non_finite_and_tiny_floats_take_the_stdlib(value: Any) -> None:
    assert not orjson_identical(value)


def test_non_finite_floats_are_bare_tokens() -> None:
    value = {"data": {"x": [float("nan"), float("inf"), -float("inf")], "h": [ROW] * 70}}
    assert encode_json(value).startswith(b'{"data":{"x":[NaN,Infinity,-Infinity]')


def test_lone_surrogates_are_escaped() -> None:
    value = {"data": {"s": "a\ud800b", "t": "é"}}
    assert encode_json(value) == b'{"data":{"s":"a\\ud800b","t":"\\u00e9"}}'


def test_random_floats_match_the_stdlib() -> None:
    rnd = random.Random(15)
    values = []
    for i in range(20_000):
        if i % 2:
            values.append(struct.unpack("d", struct.pack("Q", rnd.getrandbits(64)))[0])
        else:
            values.append(rnd.random() * 10 ** rnd.randint(-8, 30) * rnd.choice([1, -1]))
    for value in values:
        assert encode_json({"v": value}) == stdlib({"v": value}), value
