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

import runapi
from runapi._frames import RUN_COLUMNS
from runapi._runs_table import TablePage, table_frame, table_page

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


def _node(**fields: Any) -> dict[str, Any]:
    node = {
        "name": "r1",
        "displayName": "one",
        "state": "finished",
        "createdAt": "2026-01-02T03:04:05",
        "tags": ["a"],
        "config": "{}",
        "summaryMetrics": "{}",
    }
    node.update(fields)
    return node


def _runs(*nodes: Any, **page_info: Any) -> dict[str, Any]:
    info = {"endCursor": None, "hasNextPage": False, **page_info}
    return {
        "data": {"project": {"runs": {"edges": [{"node": n} for n in nodes], "pageInfo": info}}}
    }


class Answer(httpx.BaseTransport):
    """Answers every GraphQL request with `body`."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(self.body).encode(), request=request)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": {"project": {"runs": {"edges": {}}}}}, "runs.edges is not a list"),
        (_runs(_node(), hasNextPage="yes"), "pageInfo is not"),
        (_runs(_node(name=None)), "a run node without a name"),
        (_runs(_node(tags=["a", 1])), "tags is not a list of str: ['a', 1]"),
        (_runs(_node(displayName=5)), "displayName is not a str or null"),
        (_runs(_node(createdAt="yesterday")), "createdAt"),
        (_runs(_node(config="{not json")), "run config is not valid JSON"),
        (_runs(_node(summaryMetrics="[1, 2]")), "run summary is not a JSON object"),
        ({"data": {"project": 5}}, "project is not an object"),
    ],
)
def test_table_answers_of_the_wrong_shape_are_response_validation_errors(
    owner: User, body: Any, message: str
) -> None:
    api = make_api(owner, transport=Answer(body))
    with pytest.raises(runapi.ResponseValidationError) as info:
        api.runs(f"{owner.entity}/{PROJECT}").to_pandas(progress=False)
    assert message in str(info.value)


def test_table_answer_values_are_decoded_like_the_models(owner: User) -> None:
    body = _runs(
        _node(config=json.dumps({"lr": {"value": 0.5, "desc": None}, "_wandb": {"value": {}}})),
        _node(
            name="r2",
            displayName=None,
            state=None,
            tags=None,
            config=None,
            summaryMetrics='{"loss": NaN, "opt": {"m": 0.9}}',
            createdAt="2026-01-02T03:04:05.123456",
        ),
    )
    frame = make_api(owner, transport=Answer(body)).runs("e/p").to_pandas(progress=False)
    records = frame.to_dict("records")
    assert [r["name"] for r in records] == ["one", "r2"]
    assert [r["state"] for r in records] == ["finished", "unknown"]
    assert records[1]["tags"] == [] and records[0]["config.lr"] == 0.5
    assert "config._wandb" not in frame.columns and records[1]["summary.opt.m"] == 0.9
    assert str(frame["created_at"].dtype).startswith("datetime64")
    assert records[1]["created_at"] == pd.Timestamp("2026-01-02T03:04:05.123456")


@pytest.mark.parametrize(
    ("edge", "message"),
    [({"node": {"name": "r1"}}, "an edge without a run name and a cursor"), ({"cursor": "c"}, "")],
)
def test_names_answers_of_the_wrong_shape_are_response_validation_errors(
    owner: User, edge: Any, message: str
) -> None:
    body = {
        "data": {
            "project": {
                "runs": {"edges": [edge], "pageInfo": {"endCursor": None, "hasNextPage": False}}
            }
        }
    }
    with pytest.raises(runapi.ResponseValidationError, match="ListRunNames") as info:
        make_api(owner, transport=Answer(body)).runs("e/p").run_ids()
    assert message in str(info.value)


def test_flat_uniform_table_equals_frame_of_run_objects(owner: User) -> None:
    """Runs with the same flat config and summary keys: the table is built from columns."""
    project = "flat"
    with owner.http() as client:
        for i in range(4):
            upsert(
                client,
                modelName=project,
                name=f"u{i}",
                config=wrapped({"lr": 0.1 * i, "opt": f"o{i}"}),
                summaryMetrics=json.dumps({"loss": 1 / (i + 1), "best": i}),
                tags=["t"] if i else [],
            )
    api = make_api(owner)
    lean = api.runs(f"{owner.entity}/{project}")
    page = lean._table_page(1000, None)
    assert page is not None and page.columns is not None  # the columnar build was taken
    frame = lean.to_pandas(progress=False)
    loaded = api.runs(f"{owner.entity}/{project}", per_page=2)
    list(loaded)
    pd.testing.assert_frame_equal(frame, loaded.to_pandas(progress=False))
    assert list(frame["config.lr"]) == [0.1 * i for i in range(4)]
    assert list(frame["summary.best"]) == [0, 1, 2, 3]


def _table_page(*nodes: Any) -> TablePage:
    return table_page(_runs(*nodes)["data"]["project"]["runs"])


def test_pages_of_different_columns_are_joined_as_records() -> None:
    first = _table_page(
        _node(name="a", config=json.dumps({"lr": {"value": 1}}), summaryMetrics='{"x": 1}'),
        _node(name="b", config=json.dumps({"lr": {"value": 2}}), summaryMetrics='{"x": NaN}'),
    )
    second = _table_page(
        _node(name="c", config=json.dumps({"wd": {"value": 0.5}, "lr": {"value": 3}})),
    )
    assert first.columns is not None and second.columns is not None
    frame = table_frame([first, second], [])
    assert list(frame.columns) == [*RUN_COLUMNS, "config.lr", "summary.x", "config.wd"]
    assert list(frame["config.lr"]) == [1, 2, 3] and list(frame["id"]) == ["a", "b", "c"]
    assert pd.isna(frame["summary.x"][1]) and pd.isna(frame["summary.x"][2])
    assert list(frame["config.wd"].isna()) == [True, True, False]
    expected = pd.DataFrame.from_records(first.as_records() + second.as_records())
    pd.testing.assert_frame_equal(frame, expected)


def test_a_page_with_differing_or_nested_keys_is_built_as_records() -> None:
    differing = _table_page(
        _node(name="a", summaryMetrics='{"x": 1}'), _node(name="b", summaryMetrics='{"y": 2}')
    )
    nested = _table_page(_node(name="c", config=json.dumps({"opt": {"value": {"lr": 1}}})))
    assert differing.columns is None and nested.columns is None
    assert differing.as_records()[1]["summary.y"] == 2
    assert nested.as_records()[0]["config.opt.lr"] == 1


def test_without_drops_the_runs_seen_in_either_form() -> None:
    uniform = _table_page(_node(name="a"), _node(name="b"), _node(name="c"))
    records = _table_page(
        _node(name="a", summaryMetrics='{"x": 1}'), _node(name="b", summaryMetrics='{"y": 2}')
    )
    assert uniform.columns is not None and records.columns is None
    kept = uniform.without({"b"})
    assert kept.ids == ["a", "c"] and [r["id"] for r in kept.as_records()] == ["a", "c"]
    assert records.without({"a"}).ids == ["b"]
    assert records.without({"a"}).as_records()[0]["summary.y"] == 2
    assert uniform.without(set()) is uniform


def test_cursor_listing_gives_the_cursors_of_the_names_listing(owner: User) -> None:
    """`edges { cursor }` reads no run (ids only): the same cursors as with the names."""
    from runapi_generated.operations import LIST_RUN_CURSORS_GQL, LIST_RUN_NAMES_GQL

    variables = {"entity": owner.entity, "project": PROJECT, "first": 4}
    with owner.http() as client:
        for after in (None, "cnVuczp2MToy"):  # the start, and after the third run
            args = {**variables, "after": after}
            cursors = data(client, LIST_RUN_CURSORS_GQL, args)["project"]["runs"]
            names = data(client, LIST_RUN_NAMES_GQL, args)["project"]["runs"]
            assert cursors["pageInfo"] == names["pageInfo"]
            assert [e["cursor"] for e in cursors["edges"]] == [e["cursor"] for e in names["edges"]]
            assert len(cursors["edges"]) == (4 if after is None else len(STATES) - 3)


class ByOperation(httpx.BaseTransport):
    """Answers each GraphQL request with the body given for its operation name."""

    def __init__(self, bodies: dict[str, Any]) -> None:
        self.bodies = bodies

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = self.bodies[json.loads(request.content)["operationName"]]
        return httpx.Response(200, content=json.dumps(body).encode(), request=request)


@pytest.mark.parametrize("edge", [{"node": {"name": "r1"}}, {"cursor": 5}, "x"])
def test_cursor_answers_of_the_wrong_shape_are_response_validation_errors(
    owner: User, edge: Any
) -> None:
    first_page = _runs(_node(), endCursor="c1", hasNextPage=True)
    listing = {
        "data": {
            "project": {
                "runs": {"edges": [edge], "pageInfo": {"endCursor": None, "hasNextPage": False}}
            }
        }
    }
    api = make_api(
        owner, transport=ByOperation({"ListRunsTable": first_page, "ListRunCursors": listing})
    )
    with pytest.raises(runapi.ResponseValidationError, match=r"ListRunCursors: .*without a cursor"):
        api.runs("e/p").to_pandas(progress=False)
