"""Custom scalars: JSONString travels as a JSON-encoded string, JSON inline."""

from __future__ import annotations

import json
from typing import Any

from ariadne import ScalarType
from ariadne.types import SchemaBindable

from runapi_server.errors import BadInput
from runapi_server.history import INT64_MAX, INT64_MIN

json_string = ScalarType("JSONString")
json_value = ScalarType("JSON")
date_time = ScalarType("DateTime")
int64 = ScalarType("Int64")


@json_string.serializer
def serialize_json_string(value: Any) -> str:
    # Resolvers hand over stored JSON text as is; anything else is encoded here.
    return value if isinstance(value, str) else json.dumps(value)


@json_string.value_parser
def parse_json_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise BadInput("JSONString must be a string holding a JSON document")
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise BadInput(f"malformed JSONString: {exc}") from exc


@int64.value_parser
def parse_int64(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(f"Int64 must be an integer, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise BadInput(f"Int64 must be an integer, got {value!r}")
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise BadInput(f"Int64 out of range: {number} is not between {INT64_MIN} and {INT64_MAX}")
    return number


BINDABLES: list[SchemaBindable] = [json_string, json_value, date_time, int64]
