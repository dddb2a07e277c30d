"""The runs listing's fast paths give exactly what the general path gives.

With no filter and a column order the server orders, counts and windows in SQL; any
filter (here one matching every run) sends the same request through the Python path.
Both must list the same runs in the same order, with the same cursors, page by page,
ties (many runs sharing a state, a group, no group) included. `Runs.to_pandas()` reads
a lean table query: its frame must equal the one built from `Run` objects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from conftest import Server, User
from seeding import close_apis, make_api
from server_gql import data, operation, upsert, wrapped

__all__ = ["close_apis"]

PROJECT = "fast"
EVERYTHING = {"name": {"$exists": True}}  # matches all runs, but is a filter
STATES = ["finished", "failed", "finished", "running", "finished", "failed", "finished"]


@pytest.fixture(scope="module")
def owner(live_server: Server) -> Iterator[User]:
    name = f"fast{time.monotonic_ns()}"
    user = User(name=name, api_key=live_server.create_user(name), server=live_server)
    with user.http() as client:
        for i, state in enumerate(STATES):
            fields: dict[str, Any] = {"name": f"f{i}", "state": state}
            if i % 3:
                fields["groupName"] = f"g{i % 2}"  # ties, and runs without a group
            if i % 2:
                fields["jobType"] = "train"
            upsert(
                client,
                modelName=PROJECT,
                config=wrapped({"lr": i % 3, "opt": {"name": f"o{i % 2}"}}),
                summaryMetrics=json.dumps({"loss": 1 / (i + 1), "nested": {"a": i}}),
                tags=["even"] if i % 2 == 0 else ["odd"],
                **fields,
            )
    yield user


def _page(client: httpx.Client, user: User, filters: Any, order: str | None, **args: Any) -> Any:
    variables = {
        "entity": user.entity,
        "project": PROJECT,
        "filters": None if filters is None else json.dumps(filters),
        "order": order,
        **args,
    }
    return data(client, operation("list_runs_page"), variables)["project"]


def _walk(client: httpx.Client, user: User, filters: Any, order: str | None) -> list[Any]:
    """Every page of 2 runs, following endCursor: (names, cursors, pageInfo, totals)."""
    pages, after = [], None
    for _ in range(10):
        result = _page(client, user, filters, order, first=2, after=after)
        runs = result["runs"]
        pages.append(
            (
                [e["node"]["name"] for e in runs["edges"]],
                [e["cursor"] for e in runs["edges"]],
                runs["pageInfo"],
                runs["totalCount"],
                result["runCount"],
            )
        )
        if not runs["pageInfo"]["hasNextPage"]:
            return pages
        after = runs["pageInfo"]["endCursor"]
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize(
    "order",
    [None, "+created_at", "-created_at", "+state", "-state", "+group", "-group", "-job_type",
     "+name", "-display_name", "+updated_at"],
)  # fmt: skip
def test_sql_order_equals_general_path_across_pages(owner: User, order: str | None) -> None:
    with owner.http() as client:
        fast = _walk(client, owner, None, order)
        general = _walk(client, owner, EVERYTHING, order)
        assert fast == general
        assert sum(len(p[0]) for p in fast) == len(STATES)
        assert all(p[3] == p[4] == len(STATES) for p in fast)


def test_ties_keep_creation_order_and_missing_last(owner: User) -> None:
    with owner.http() as client:
        by_state = [n for p in _walk(client, owner, None, "-state") for n in p[0]]
        assert by_state == ["f3", "f0", "f2", "f4", "f6", "f1", "f5"]
        by_group = [n for p in _walk(client, owner, None, "-group") for n in p[0]]
        assert by_group == ["f1", "f5", "f2", "f4", "f0", "f3", "f6"]


def test_last_before_and_json_orders_match(owner: User) -> None:
    with owner.http() as client:
        for order in ("-state", "+summary_metrics.loss", "-config.lr"):
            fast = _page(client, owner, None, order, last=3)
            general = _page(client, owner, EVERYTHING, order, last=3)
            assert fast["runs"] == general["runs"]
            start = fast["runs"]["pageInfo"]["startCursor"]
            before_fast = _page(client, owner, None, order, last=2, before=start)
            before_general = _page(client, owner, EVERYTHING, order, last=2, before=start)
            assert before_fast["runs"] == before_general["runs"]
            assert len(before_fast["runs"]["edges"]) == 2


def test_listed_runs_carry_project_and_user(owner: User) -> None:
    with owner.http() as client:
        result = data(
            client,
            operation("project_runs_owner"),
            {"entity": owner.entity, "project": PROJECT},
        )["project"]["runs"]["edges"]
        assert len(result) == len(STATES)
        for edge in result:
            assert edge["node"]["project"] == {"name": PROJECT, "entityName": owner.entity}
            assert edge["node"]["user"]["name"] == owner.name


def test_table_frame_equals_frame_of_run_objects(owner: User) -> None:
    api = make_api(owner)
    for filters, order in ((None, "+created_at"), ({"tags": "odd"}, "-summary_metrics.loss")):
        lean = api.runs(f"{owner.entity}/{PROJECT}", filters=filters, order=order)
        frame = lean.to_pandas()
        loaded = api.runs(f"{owner.entity}/{PROJECT}", filters=filters, order=order, per_page=2)
        list(loaded)  # Run objects loaded first: to_pandas builds from them
        pd.testing.assert_frame_equal(frame, loaded.to_pandas())
        assert len(frame) == (len(STATES) if filters is None else 3)
        assert "config.opt.name" in frame.columns and "summary.nested.a" in frame.columns
