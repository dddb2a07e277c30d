"""Run filters, order and cursor pagination on the local server (WIRE.md), over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Server, User
from server_gql import data, error_messages, operation, upsert, wrapped

PROJECT = "filters"
RUNS: list[dict[str, Any]] = [
    {
        "name": "r0",
        "state": "finished",
        "tags": ["a", "b"],
        "displayName": "alpha-one",
        "groupName": "g1",
        "jobType": "train",
        "config": {"lr": 0.1, "opt": {"name": "adam", "beta": 0.9}, "model.depth": 3},
        "summary": {"loss": 0.5, "acc": 0.8, "nested": {"x": 1}},
    },
    {
        "name": "r1",
        "state": "failed",
        "tags": ["b"],
        "displayName": "beta-two",
        "groupName": "g2",
        "jobType": "eval",
        "config": {"lr": 0.01, "opt": {"name": "sgd"}},
        "summary": {"loss": 0.2},
    },
    {
        "name": "r2",
        "state": "running",
        "tags": [],
        "displayName": "gamma",
        "config": {"lr": 0.001, "flag": True},
        "summary": {},
    },
    {
        "name": "r3",
        "state": "finished",
        "tags": ["c", "a"],
        "displayName": "Alpha-three",
        "groupName": "g1",
        "config": {"lr": 1, "items": [1, 2, 3], "flag": False},
        "summary": {"loss": 0.2, "acc": 0.9},
    },
]


@pytest.fixture(scope="module")
def owner(live_server: Server) -> Iterator[User]:
    name = f"filters{time.monotonic_ns()}"
    user = User(name=name, api_key=live_server.create_user(name), server=live_server)
    with user.http() as client:
        for run in RUNS:
            fields = {k: v for k, v in run.items() if k not in ("config", "summary")}
            upsert(
                client,
                modelName=PROJECT,
                config=wrapped(run["config"]),
                summaryMetrics=json.dumps(run["summary"]),
                **fields,
            )
    yield user


def page(
    client: httpx.Client, user: User, filters: Any = None, order: str | None = None, **args: Any
) -> Any:
    variables = {
        "entity": user.entity,
        "project": PROJECT,
        "filters": None if filters is None else json.dumps(filters),
        "order": order,
        **args,
    }
    return data(client, operation("list_runs_page"), variables)["project"]


def names(result: Any) -> list[str]:
    return [edge["node"]["name"] for edge in result["runs"]["edges"]]


FILTER_CASES: list[tuple[Any, list[str]]] = [
    (None, ["r0", "r1", "r2", "r3"]),
    ({}, ["r0", "r1", "r2", "r3"]),
    ({"state": "finished"}, ["r0", "r3"]),
    ({"state": {"$eq": "failed"}}, ["r1"]),
    ({"state": {"$ne": "finished"}}, ["r1", "r2"]),
    ({"state": {"$in": ["failed", "running"]}}, ["r1", "r2"]),
    ({"state": {"$nin": ["failed", "running"]}}, ["r0", "r3"]),
    ({"tags": "a"}, ["r0", "r3"]),
    ({"tags": {"$in": ["c", "b"]}}, ["r0", "r1", "r3"]),
    ({"tags": {"$nin": ["a"]}}, ["r1", "r2"]),
    ({"tags": {"$ne": "b"}}, ["r2", "r3"]),
    ({"tags": {"$regex": "^c$"}}, ["r3"]),
    ({"display_name": {"$regex": "alpha"}}, ["r0"]),
    ({"displayName": {"$regex": "alpha", "$options": "i"}}, ["r0", "r3"]),
    ({"display_name": {"$regex": "^a"}}, ["r0"]),
    ({"display_name": {"$regex": "a$"}}, ["r2"]),
    ({"group": "g1"}, ["r0", "r3"]),
    ({"group": {"$exists": False}}, ["r2"]),
    ({"group": None}, ["r2"]),
    ({"job_type": "train"}, ["r0"]),
    ({"jobType": {"$exists": True}}, ["r0", "r1"]),
    ({"name": {"$in": ["r1", "r3"]}}, ["r1", "r3"]),
    ({"config.lr": {"$gt": 0.01}}, ["r0", "r3"]),
    ({"config.lr": {"$gte": 0.01}}, ["r0", "r1", "r3"]),
    ({"config.lr": {"$lt": 0.01}}, ["r2"]),
    ({"config.lr": {"$lte": 0.01}}, ["r1", "r2"]),
    ({"config.lr.value": 1}, ["r3"]),
    ({"config.lr": 1.0}, ["r3"]),
    ({"config.opt.name": "adam"}, ["r0"]),
    ({"config.opt.value.name": {"$in": ["adam", "sgd"]}}, ["r0", "r1"]),
    ({"config.opt.beta": {"$exists": True}}, ["r0"]),
    ({"config.model.depth": 3}, ["r0"]),
    ({"config.flag": True}, ["r2"]),
    ({"config.flag": False}, ["r3"]),
    ({"config.flag": 1}, []),
    ({"config.items": 2}, ["r3"]),
    ({"config.items": [1, 2, 3]}, ["r3"]),
    ({"config.missing": {"$exists": False}}, ["r0", "r1", "r2", "r3"]),
    ({"config.lr": {"$gt": "a"}}, []),
    ({"summary_metrics.loss": 0.2}, ["r1", "r3"]),
    ({"summaryMetrics.acc": {"$gte": 0.85}}, ["r3"]),
    ({"summary_metrics.loss": {"$exists": False}}, ["r2"]),
    ({"summary_metrics.nested.x": 1}, ["r0"]),
    ({"summary_metrics.loss": {"$ne": 0.2}}, ["r0", "r2"]),
    ({"state": "finished", "tags": "c"}, ["r3"]),
    ({"$and": [{"config.lr": {"$gt": 0.01}}, {"state": "finished"}]}, ["r0", "r3"]),
    ({"$or": [{"state": "failed"}, {"tags": "c"}]}, ["r1", "r3"]),
    ({"$nor": [{"state": "failed"}, {"tags": "c"}]}, ["r0", "r2"]),
    ({"$or": [{"$and": [{"group": "g1"}, {"config.lr": {"$lt": 0.5}}]}, {"name": "r2"}]},
     ["r0", "r2"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("filters", "expected"), FILTER_CASES, ids=[str(f) for f, _ in FILTER_CASES]
)
def test_filters(owner: User, filters: Any, expected: list[str]) -> None:
    with owner.http() as client:
        result = page(client, owner, filters)
    assert names(result) == expected
    assert result["runCount"] == result["runs"]["totalCount"] == len(expected)


def test_created_at_filters(owner: User) -> None:
    with owner.http() as client:
        created = {
            e["node"]["name"]: e["node"]["createdAt"]
            for e in data(
                client,
                operation("list_runs_created"),
                {"entity": owner.entity, "project": PROJECT},
            )["project"]["runs"]["edges"]
        }
        middle = created["r1"]
        assert names(page(client, owner, {"created_at": {"$gt": middle}})) == ["r2", "r3"]
        assert names(page(client, owner, {"createdAt": {"$lte": middle}})) == ["r0", "r1"]
        # A zone suffix is understood: the same instant written in UTC with "Z".
        assert names(page(client, owner, {"created_at": middle + "Z"})) == ["r1"]
        assert names(page(client, owner, {"heartbeat_at": {"$gte": "2000-01-01"}})) == [
            "r0",
            "r1",
            "r2",
            "r3",
        ]


ORDER_CASES: list[tuple[str | None, list[str]]] = [
    (None, ["r0", "r1", "r2", "r3"]),
    ("+created_at", ["r0", "r1", "r2", "r3"]),
    ("-created_at", ["r3", "r2", "r1", "r0"]),
    ("createdAt", ["r0", "r1", "r2", "r3"]),
    ("+summary_metrics.loss", ["r1", "r3", "r0", "r2"]),  # ties keep creation order
    ("-summary_metrics.loss", ["r0", "r1", "r3", "r2"]),  # missing last either way
    ("-summaryMetrics.acc", ["r3", "r0", "r1", "r2"]),
    ("+config.lr", ["r2", "r1", "r0", "r3"]),
    ("-config.lr.value", ["r3", "r0", "r1", "r2"]),
    ("+display_name", ["r3", "r0", "r1", "r2"]),
    ("-group", ["r1", "r0", "r3", "r2"]),
    ("+job_type", ["r1", "r0", "r2", "r3"]),
]


@pytest.mark.parametrize(("order", "expected"), ORDER_CASES, ids=[str(o) for o, _ in ORDER_CASES])
def test_order(owner: User, order: str | None, expected: list[str]) -> None:
    with owner.http() as client:
        assert names(page(client, owner, order=order)) == expected


def test_cursor_pagination(owner: User) -> None:
    with owner.http() as client:
        seen: list[str] = []
        after = None
        pages = 0
        while True:
            result = page(client, owner, {"state": {"$ne": "running"}}, "-created_at", first=2,
                          after=after)  # fmt: skip
            runs = result["runs"]
            assert runs["totalCount"] == result["runCount"] == 3
            seen += names(result)
            pages += 1
            assert runs["pageInfo"]["endCursor"] == runs["edges"][-1]["cursor"]
            if not runs["pageInfo"]["hasNextPage"]:
                break
            assert pages < 5
            after = runs["pageInfo"]["endCursor"]
        assert seen == ["r3", "r1", "r0"]
        assert pages == 2
        first_page = page(client, owner, first=1)
        assert first_page["runs"]["pageInfo"]["hasPreviousPage"] is False
        cursor = first_page["runs"]["edges"][0]["cursor"]
        rest = page(client, owner, after=cursor)
        assert names(rest) == ["r1", "r2", "r3"]
        assert rest["runs"]["pageInfo"]["hasPreviousPage"] is True
        assert rest["runs"]["pageInfo"]["hasNextPage"] is False
        tail = page(client, owner, last=2)
        assert names(tail) == ["r2", "r3"]
        before = page(client, owner, before=tail["runs"]["pageInfo"]["startCursor"], last=1)
        assert names(before) == ["r1"]
        empty = page(client, owner, first=0)
        assert names(empty) == []
        assert empty["runs"]["pageInfo"]["endCursor"] is None
        assert empty["runs"]["pageInfo"]["hasNextPage"] is True


BAD_FILTERS: list[tuple[Any, str]] = [
    ({"state": {"$foo": 1}}, "$foo"),
    ({"$where": "1"}, "$where"),
    ({"$and": {"state": "x"}}, "$and needs a non-empty list"),
    ({"$or": []}, "$or needs a non-empty list"),
    ({"bogus": 1}, "bogus"),
    ({"config.": 1}, "config."),
    ([1, 2], "must be a JSON object"),
    ({"state": {"$in": "finished"}}, "$in"),
    ({"state": {"$exists": "yes"}}, "$exists"),
    ({"display_name": {"$regex": "("}}, "invalid $regex"),
    ({"config.lr": {"$gt": None}}, "$gt"),
    ({"state": {"$eq": 1, "plain": 2}}, "mixes operators"),
    ({"created_at": {"$gt": "yesterday"}}, "ISO 8601"),
]


@pytest.mark.parametrize(("filters", "message"), BAD_FILTERS, ids=[m for _f, m in BAD_FILTERS])
def test_bad_filters_are_graphql_errors(owner: User, filters: Any, message: str) -> None:
    variables = {"entity": owner.entity, "project": PROJECT, "filters": json.dumps(filters)}
    with owner.http() as client:
        messages = error_messages(client, operation("list_runs_page"), variables)
    assert any(message in m for m in messages), messages


def test_bad_order_cursor_and_json(owner: User) -> None:
    base = {"entity": owner.entity, "project": PROJECT}
    with owner.http() as client:
        messages = error_messages(client, operation("list_runs_page"), {**base, "order": "-nope"})
        assert "nope" in messages[0]
        for cursor in ("garbage", "Zm9vOmJhcg==", "cnVuczp2MTotMQ=="):
            messages = error_messages(
                client, operation("list_runs_page"), {**base, "after": cursor}
            )
            assert "invalid cursor" in messages[0]
        messages = error_messages(client, operation("list_runs_page"), {**base, "first": -1})
        assert "first must not be negative" in messages[0]
        messages = error_messages(
            client, operation("list_runs_page"), {**base, "filters": "{'state': 1}"}
        )
        assert "malformed JSONString" in messages[0]
