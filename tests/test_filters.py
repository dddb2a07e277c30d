"""runapi.filters: the typed builder compiles to exactly the hand-written W&B filter JSON and
selects the same runs as that dict on the real local server, for every operator."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
from conftest import Server, User
from server_gql import upsert, wrapped

import runapi
from runapi.filters import (
    Config,
    CreatedAt,
    DisplayName,
    Filter,
    Group,
    JobType,
    Name,
    State,
    Summary,
    Tags,
    and_,
    not_,
    or_,
)

PROJECT = "typed-filters"
RUNS: list[dict[str, Any]] = [
    {
        "name": "r0",
        "state": "finished",
        "tags": ["a", "b"],
        "displayName": "alpha-one",
        "groupName": "g1",
        "jobType": "train",
        "config": {"lr": 0.1, "opt": {"name": "adam", "beta": 0.9}, "model": "resnet"},
        "summary": {"loss": 0.5, "acc": 0.8, "nested": {"x": 1}},
    },
    {
        "name": "r1",
        "state": "failed",
        "tags": ["b"],
        "displayName": "beta-two",
        "groupName": "g2",
        "jobType": "eval",
        "config": {"lr": 0.01, "opt": {"name": "sgd"}, "model": "bert"},
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
        "state": "crashed",
        "tags": ["c", "a"],
        "displayName": "Alpha-three",
        "groupName": "g1",
        "config": {"lr": 1, "flag": False, "model": "resnet"},
        "summary": {"loss": 0.2, "acc": 0.9},
    },
]
ALL = ["r0", "r1", "r2", "r3"]


@pytest.fixture(scope="module")
def owner(live_server: Server) -> Iterator[User]:
    name = f"typedfilters{time.monotonic_ns()}"
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


@pytest.fixture(scope="module")
def api(owner: User) -> Iterator[runapi.Api]:
    with runapi.Api(api_key=owner.api_key, base_url=owner.server.url) as client:
        yield client


def selected(api: runapi.Api, owner: User, filters: Filter | dict[str, Any]) -> list[str]:
    return [run.id for run in api.runs(f"{owner.entity}/{PROJECT}", filters=filters)]


# (builder, the dict a user would write by hand, the runs both select)
CASES: list[tuple[Filter, dict[str, Any], list[str]]] = [
    (State == "finished", {"state": "finished"}, ["r0"]),
    (State != "finished", {"state": {"$ne": "finished"}}, ["r1", "r2", "r3"]),
    (State.in_(["failed", "crashed"]), {"state": {"$in": ["failed", "crashed"]}}, ["r1", "r3"]),
    (State.not_in(["failed", "running"]), {"state": {"$nin": ["failed", "running"]}},
     ["r0", "r3"]),
    (State.exists(), {"state": {"$exists": True}}, ALL),
    (Tags.contains("a"), {"tags": "a"}, ["r0", "r3"]),
    (Tags.any_of(["c", "b"]), {"tags": {"$in": ["c", "b"]}}, ["r0", "r1", "r3"]),
    (Tags.none_of(["a"]), {"tags": {"$nin": ["a"]}}, ["r1", "r2"]),
    (Tags.regex("^c$"), {"tags": {"$regex": "^c$"}}, ["r3"]),
    (Name == "r2", {"name": "r2"}, ["r2"]),
    (Name != "r2", {"name": {"$ne": "r2"}}, ["r0", "r1", "r3"]),
    (Name.in_(["r1", "r3"]), {"name": {"$in": ["r1", "r3"]}}, ["r1", "r3"]),
    (Name.not_in(["r1", "r3"]), {"name": {"$nin": ["r1", "r3"]}}, ["r0", "r2"]),
    (Name.regex("^r[12]$"), {"name": {"$regex": "^r[12]$"}}, ["r1", "r2"]),
    (DisplayName == "gamma", {"display_name": "gamma"}, ["r2"]),
    (DisplayName.regex("alpha"), {"display_name": {"$regex": "alpha"}}, ["r0"]),
    (DisplayName.regex("alpha", ignore_case=True),
     {"display_name": {"$regex": "alpha", "$options": "i"}}, ["r0", "r3"]),
    (DisplayName.in_(["gamma", "beta-two"]), {"display_name": {"$in": ["gamma", "beta-two"]}},
     ["r1", "r2"]),
    (Group == "g1", {"group": "g1"}, ["r0", "r3"]),
    (Group != "g1", {"group": {"$ne": "g1"}}, ["r1", "r2"]),
    (Group.exists(False), {"group": {"$exists": False}}, ["r2"]),
    (JobType == "train", {"job_type": "train"}, ["r0"]),
    (JobType.exists(), {"job_type": {"$exists": True}}, ["r0", "r1"]),
    (Config("lr") > 0.01, {"config.lr": {"$gt": 0.01}}, ["r0", "r3"]),
    (Config("lr") >= 0.01, {"config.lr": {"$gte": 0.01}}, ["r0", "r1", "r3"]),
    (Config("lr") < 0.01, {"config.lr": {"$lt": 0.01}}, ["r2"]),
    (Config("lr") <= 0.01, {"config.lr": {"$lte": 0.01}}, ["r1", "r2"]),
    (Config("lr") == 1, {"config.lr": 1}, ["r3"]),
    (Config("lr") != 1, {"config.lr": {"$ne": 1}}, ["r0", "r1", "r2"]),
    (Config("model") == "resnet", {"config.model": "resnet"}, ["r0", "r3"]),
    (Config("model").in_(["bert", "vit"]), {"config.model": {"$in": ["bert", "vit"]}}, ["r1"]),
    (Config("model").not_in(["bert"]), {"config.model": {"$nin": ["bert"]}}, ["r0", "r2", "r3"]),
    (Config("model").regex("^res"), {"config.model": {"$regex": "^res"}}, ["r0", "r3"]),
    (Config("opt.name") == "adam", {"config.opt.name": "adam"}, ["r0"]),
    (Config("opt.beta").exists(), {"config.opt.beta": {"$exists": True}}, ["r0"]),
    (Config("flag") == True, {"config.flag": True}, ["r2"]),  # noqa: E712
    (Config("flag") == False, {"config.flag": False}, ["r3"]),  # noqa: E712
    (Summary("loss") == 0.2, {"summary_metrics.loss": 0.2}, ["r1", "r3"]),
    (Summary("acc") >= 0.85, {"summary_metrics.acc": {"$gte": 0.85}}, ["r3"]),
    (Summary("loss") != 0.2, {"summary_metrics.loss": {"$ne": 0.2}}, ["r0", "r2"]),
    (Summary("loss").exists(False), {"summary_metrics.loss": {"$exists": False}}, ["r2"]),
    (Summary("nested.x") == 1, {"summary_metrics.nested.x": 1}, ["r0"]),
    ((Config("lr") > 0.01) & (State == "finished"),
     {"$and": [{"config.lr": {"$gt": 0.01}}, {"state": "finished"}]}, ["r0"]),
    (and_(Group == "g1", Tags.contains("a"), Summary("acc") > 0.85),
     {"$and": [{"group": "g1"}, {"tags": "a"}, {"summary_metrics.acc": {"$gt": 0.85}}]}, ["r3"]),
    ((State == "failed") | Tags.contains("c"), {"$or": [{"state": "failed"}, {"tags": "c"}]},
     ["r1", "r3"]),
    (or_(Name == "r0", Name == "r1", Name == "r2"),
     {"$or": [{"name": "r0"}, {"name": "r1"}, {"name": "r2"}]}, ["r0", "r1", "r2"]),
    (~Tags.contains("a"), {"$nor": [{"tags": "a"}]}, ["r1", "r2"]),
    (not_((State == "failed") | Tags.contains("c")),
     {"$nor": [{"$or": [{"state": "failed"}, {"tags": "c"}]}]}, ["r0", "r2"]),
    (((Group == "g1") & (Config("lr") < 0.5)) | (Name == "r2"),
     {"$or": [{"$and": [{"group": "g1"}, {"config.lr": {"$lt": 0.5}}]}, {"name": "r2"}]},
     ["r0", "r2"]),
    (~~(State == "running"), {"state": "running"}, ["r2"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("builder", "expected_json", "expected_runs"),
    CASES,
    ids=[json.dumps(d) for _, d, _ in CASES],
)
def test_builder_selects_what_the_dict_selects(
    api: runapi.Api,
    owner: User,
    builder: Filter,
    expected_json: dict[str, Any],
    expected_runs: list[str],
) -> None:
    assert builder.to_dict() == expected_json
    assert json.loads(builder.to_json()) == expected_json
    assert selected(api, owner, expected_json) == expected_runs
    assert selected(api, owner, builder) == expected_runs
    assert len(api.runs(f"{owner.entity}/{PROJECT}", filters=builder)) == len(expected_runs)


def test_created_at(api: runapi.Api, owner: User) -> None:
    created = {run.id: run.created_at for run in api.runs(f"{owner.entity}/{PROJECT}")}
    middle = created["r1"]  # naive UTC, as the server stores it
    text = middle.isoformat(timespec="microseconds")
    assert (CreatedAt > middle).to_dict() == {"created_at": {"$gt": text}}
    assert selected(api, owner, CreatedAt > middle) == ["r2", "r3"]
    assert selected(api, owner, CreatedAt >= middle) == ["r1", "r2", "r3"]
    assert selected(api, owner, CreatedAt < middle) == ["r0"]
    assert selected(api, owner, CreatedAt <= middle) == ["r0", "r1"]
    assert selected(api, owner, {"created_at": {"$lte": text}}) == ["r0", "r1"]
    # An aware datetime is converted to UTC: the same instant in UTC+2 selects the same runs.
    plus_two = middle.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert (CreatedAt <= plus_two).to_dict() == {"created_at": {"$lte": text}}
    assert selected(api, owner, CreatedAt <= plus_two) == ["r0", "r1"]


def test_combining_flattens_and_copies() -> None:
    a, b, c = State == "finished", Tags.contains("x"), Config("lr") > 1
    assert ((a & b) & c).to_dict() == {"$and": [{"state": "finished"}, {"tags": "x"},
                                                {"config.lr": {"$gt": 1}}]}  # fmt: skip
    assert (a | (b | c)).to_dict() == {"$or": [{"state": "finished"}, {"tags": "x"},
                                               {"config.lr": {"$gt": 1}}]}  # fmt: skip
    assert and_(a).to_dict() == {"state": "finished"}
    combined = a & b
    combined.to_dict()["$and"].append({"state": "failed"})  # a copy: the filter is unchanged
    assert combined.to_dict() == {"$and": [{"state": "finished"}, {"tags": "x"}]}
    assert repr(a) == 'Filter({"state":"finished"})'
    assert Config("opt.lr").path == "config.opt.lr"
    assert Summary("acc").path == "summary_metrics.acc"


BAD: list[tuple[Any, type[Exception], str]] = [
    (lambda: State == 5, TypeError, "State compares with a run state"),
    (lambda: State == "bogus", TypeError, "not 'bogus'"),
    (lambda: State.in_(["finished", "done"]), TypeError, "not 'done'"),
    (lambda: CreatedAt > "2026-01-01", TypeError, "created_at compares with a datetime"),
    (lambda: Config("lr") > [1], TypeError, "config.lr orders against"),
    (lambda: Config("lr") > True, TypeError, "config.lr orders against"),
    (lambda: Config("lr") == float("nan"), TypeError, "config.lr compares with"),
    (lambda: Config("lr") == None, TypeError, "config.lr compares with"),  # noqa: E711
    (lambda: Config("lr").in_("abc"), TypeError, "in_() needs a list"),
    (lambda: Name == 3, TypeError, "name compares with a str"),
    (lambda: Tags.contains(1), TypeError, "tags compares with a str"),
    (lambda: Config(""), ValueError, "non-empty dotted name"),
    (lambda: Summary("acc."), ValueError, "non-empty dotted name"),
    (lambda: and_(), ValueError, "$and needs at least one filter"),
    (lambda: (State == "running") & {"state": "x"}, TypeError, "expected a runapi filter"),
    (lambda: bool(State == "running"), TypeError, "no truth value"),
    (lambda: 0 < Config("lr") < 1, TypeError, "no truth value"),
    (lambda: Group.exists("yes"), TypeError, "exists() takes a bool"),
    (lambda: DisplayName.regex(3), TypeError, "needs a str pattern"),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_is_a_clear_error(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        make()


def test_runs_rejects_other_filter_types(api: runapi.Api, owner: User) -> None:
    with pytest.raises(ValueError, match=r"a runapi\.filters Filter or a MongoDB-style dict"):
        api.runs(f"{owner.entity}/{PROJECT}", filters="state=finished")  # type: ignore[arg-type]
    assert {"Config", "State", "Filter", "and_"} <= set(runapi.__all__)
    assert runapi.State is State
