"""Run fields over streamed history and events: history, events, sampledHistory, historyKeys,
line counts, tails and parquetHistory (rows in :mod:`runapi_server.storage.history`, key
picking in :mod:`runapi_server.history`)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from ariadne import ObjectType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server import history, parquet_export
from runapi_server.context import context_of
from runapi_server.errors import BadInput
from runapi_server.storage import history as history_store
from runapi_server.storage.files import streamed_line_count

run = ObjectType("Run")

OUTPUT_LOG = "output.log"


def _samples(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{where}: samples must be an integer, got {value!r}")
    if value < 0:
        raise BadInput(f"{where}: samples must not be negative, got {value}")
    if value > history.INT64_MAX:
        raise BadInput(f"{where}: samples out of range: {value} is over {history.INT64_MAX}")
    return value


def _step(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"{where} must be an integer, got {value!r}")
    if not history.INT64_MIN <= value <= history.INT64_MAX:
        raise BadInput(f"{where} out of range: {value} is not a 64-bit integer")
    return value


@run.field("history")
def resolve_history(
    parent: Any,
    info: GraphQLResolveInfo,
    samples: int | None = None,
    minStep: int | None = None,
    maxStep: int | None = None,
) -> list[str]:
    rows = history_store.history_rows(
        context_of(info).state.db.read(),
        parent["id"],
        samples=_samples(samples, "history"),
        min_step=minStep,
        max_step=maxStep,
    )
    return context_of(info).budget.charge_texts(rows, "history")


@run.field("events")
def resolve_events(parent: Any, info: GraphQLResolveInfo, samples: int | None = None) -> list[str]:
    rows = history_store.event_rows(
        context_of(info).state.db.read(), parent["id"], _samples(samples, "events")
    )
    return context_of(info).budget.charge_texts(rows, "events")


def _parse_spec(spec: Any, index: int) -> tuple[list[str], int | None, int | None, int | None]:
    where = f"sampledHistory spec {index}"
    if not isinstance(spec, dict):
        raise BadInput(f"{where} must be a JSON object with 'keys'")
    keys = spec.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise BadInput(f"{where}: 'keys' must be a non-empty list of strings")
    return (
        keys,
        _samples(spec.get("samples"), where),
        _step(spec.get("minStep"), f"{where}: minStep"),
        _step(spec.get("maxStep"), f"{where}: maxStep"),
    )


@run.field("sampledHistory")
def resolve_sampled_history(
    parent: Any, info: GraphQLResolveInfo, specs: list[Any], packVersion: int | None = None
) -> list[list[dict[str, Any]]]:
    context_of(info).state.limits.check_spec_count(len(specs))
    parsed = [_parse_spec(spec, i) for i, spec in enumerate(specs)]
    ctx = context_of(info)
    conn = ctx.state.db.read()
    result = []
    for keys, samples, lo, hi in parsed:
        rows = history.sampled_history(
            conn, parent["id"], keys, samples=samples, min_step=lo, max_step=hi
        )
        ctx.budget.charge(_json_size(rows), "sampledHistory")
        result.append(rows)
    return result


def _json_size(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except TypeError:  # NaN is fine for orjson; a lone surrogate is not: estimate
        return len(json.dumps(value))


@run.field("historyKeys")
def resolve_history_keys(
    parent: Any, info: GraphQLResolveInfo, format: str | None = None
) -> dict[str, Any]:
    return history.history_keys(context_of(info).state.db.read(), parent["id"])


@run.field("historyLineCount")
def resolve_history_line_count(parent: Any, info: GraphQLResolveInfo) -> int:
    return history_store.line_count(
        context_of(info).state.db.read(), parent["id"], history_store.HISTORY
    )


@run.field("eventsLineCount")
def resolve_events_line_count(parent: Any, info: GraphQLResolveInfo) -> int:
    return history_store.line_count(
        context_of(info).state.db.read(), parent["id"], history_store.EVENTS
    )


@run.field("logLineCount")
def resolve_log_line_count(parent: Any, info: GraphQLResolveInfo) -> int:
    return streamed_line_count(context_of(info).state.db.read(), parent["id"], OUTPUT_LOG)


@run.field("historyTail")
def resolve_history_tail(parent: Any, info: GraphQLResolveInfo) -> str:
    text = history_store.history_tail(context_of(info).state.db.read(), parent["id"])
    context_of(info).budget.charge(len(text), "historyTail")
    return text


@run.field("eventsTail")
def resolve_events_tail(parent: Any, info: GraphQLResolveInfo) -> str:
    text = history_store.events_tail(context_of(info).state.db.read(), parent["id"])
    context_of(info).budget.charge(len(text), "eventsTail")
    return text


@run.field("parquetHistory")
def resolve_parquet_history(
    parent: Any, info: GraphQLResolveInfo, liveKeys: list[str]
) -> dict[str, Any]:
    ctx = context_of(info)
    result = parquet_export.parquet_history(ctx.state, ctx.base_url, parent, liveKeys)
    ctx.budget.charge(_json_size(result["liveData"]), "parquetHistory.liveData")
    return result


BINDABLES: list[SchemaBindable] = [run]
