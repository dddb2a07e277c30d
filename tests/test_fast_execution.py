"""The server's fast path for queries gives the general executor's answer byte for byte:
every client operation and test operation, on the same data (nulls, unicode, NaN and
Infinity, nested values, empty lists), and the same errors (the fast path gives way to
the general one for every error: not found, page limit, bad filter, response budget,
missing variables)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ariadne import graphql_sync
from conftest import QUERIES, Server, User, load_operation
from seeding import finish, log_history, make_api, new_run
from server_gql import OPERATIONS, data, operation, upsert, wrapped

import runapi
from runapi_server.app import build_schema
from runapi_server.auth import authenticate
from runapi_server.context import Context
from runapi_server.execution import FastListExecutionContext
from runapi_server.fast_execution import FastQueryExecutionContext
from runapi_server.jsonresponse import encode_json
from runapi_server.limits import Limits, ResponseBudget
from runapi_server.state import ServerState

PROJECT = "fast-path"
TEXT = 'naïve 中文 \u2028 "quoted" \\ \n tab\t 😀'


class Recording(FastQueryExecutionContext):
    """Records whether each request's fast path answered (True) or gave way (False)."""

    taken: ClassVar[list[bool]] = []

    def _fast_operation(self, operation: Any, root_value: Any) -> dict[str, Any]:
        try:
            data = super()._fast_operation(operation, root_value)
        except Exception:
            Recording.taken.append(False)
            raise
        Recording.taken.append(True)
        return data


@pytest.fixture(scope="module")
def owner(live_server: Server) -> Iterator[User]:
    user = User(name="fastpath", api_key=live_server.create_user("fastpath"), server=live_server)
    with runapi.Api(api_key=user.api_key, base_url=live_server.url) as api, user.http() as client:
        for i, run_id in enumerate(["f1", "f2", "f3"]):
            run = new_run(api, user, project=PROJECT, run_id=run_id)
            config = {"lr": 0.1 * (i + 1), "text": TEXT, "nested": {"a": [1, None, {"b": TEXT}]}}
            upsert(
                client,
                name=run_id,
                modelName=PROJECT,
                entityName=user.entity,
                displayName=None if i == 1 else f"{TEXT} {i}",
                tags=[] if i == 2 else ["t", TEXT],
                config=wrapped(config),
                summaryMetrics=json.dumps({"loss": float("nan"), "best": float("inf"), "s": TEXT})
                if i == 0
                else json.dumps({"loss": 0.5}),
            )
            rows = [
                {"_step": s, "loss": float("nan") if s == 3 else 1.0 / (s + 1), "t": TEXT}
                for s in range(20 + i)
            ]
            log_history(user, run, rows)
            if i != 1:
                finish(user, run)
        make_api(user).close()
    yield user


def variables_for(owner: User) -> dict[str, Any]:
    spec = json.dumps({"keys": ["loss", "_step"], "samples": 10})
    return {
        "entity": owner.entity,
        "entityName": owner.entity,
        "project": PROJECT,
        "projectName": PROJECT,
        "name": "f1",
        "run": "f1",
        "runId": "f1",
        "samples": 10,
        "specs": [spec],
        "keys": ["loss"],
        "liveKeys": ["_step"],
        "first": 2,
        "filters": None,
        "order": "-created_at",
        "artifact": "none:latest",
    }


def documents() -> list[tuple[str, str]]:
    found = []
    for path in sorted(QUERIES.glob("*.graphql")):
        if path.stem != "fragments" and path.read_text().lstrip().startswith(("query", "#")):
            text = load_operation(path.stem)
            if "mutation " not in text:
                found.append((path.stem, text))
    for path in sorted(OPERATIONS.glob("*.graphql")):
        text = operation(path.stem)
        if "mutation" not in text and "subscription" not in text:
            found.append((path.stem, text))
    return found


def run_both(
    data_dir: Path, owner: User, text: str, variables: dict[str, Any], limits: Limits | None = None
) -> tuple[bytes, bytes]:
    state = ServerState.open(data_dir, limits=limits)
    token = base64.b64encode(f"api:{owner.api_key}".encode()).decode()
    user = authenticate(state.db, f"Basic {token}")
    assert user is not None
    schema = build_schema()
    answers = []
    for cls in (FastListExecutionContext, Recording):
        context = Context(
            state=state,
            user=user,
            base_url="http://127.0.0.1:1",
            budget=ResponseBudget(state.limits.max_response_bytes),
        )
        _ok, result = graphql_sync(
            schema,
            {"query": text, "variables": variables},
            context_value=context,
            execution_context_class=cls,
        )
        answers.append(encode_json(result))
    return answers[0], answers[1]


def test_every_query_answers_as_the_general_path(live_server: Server, owner: User) -> None:
    Recording.taken.clear()
    variables = variables_for(owner)
    checked = 0
    for name, text in documents():
        general, fast = run_both(live_server.data_dir, owner, text, variables)
        assert fast == general, name
        checked += 1
    assert checked >= 30
    # Most operations take the fast path (the rest give way: errors, e.g. an unknown artifact).
    assert sum(Recording.taken) >= 25, Recording.taken


@pytest.mark.parametrize(
    ("operation_name", "changes", "fast"),
    [
        ("list_runs_table", {"first": 100}, True),
        ("list_runs_table", {"project": "no-such-project"}, True),  # null project
        ("list_runs_table", {"first": 20_000}, False),  # over the page limit: an error
        ("list_runs_table", {"filters": json.dumps({"$bad": 1})}, False),
        ("list_runs_table", {"filters": json.dumps({"display_name": {"$regex": "naïve"}})}, True),
        ("list_runs_history", {"first": 3, "samples": 5}, True),
        ("list_runs_sampled_history", {"first": 3}, True),
        ("get_run", {"name": "missing"}, True),
        ("get_run_history", {"samples": 0}, None),
        ("list_run_names", {"entity": None}, None),  # missing variable: before execution
    ],
)
def test_same_answer_and_errors(
    live_server: Server,
    owner: User,
    operation_name: str,
    changes: dict[str, Any],
    fast: bool | None,
) -> None:
    Recording.taken.clear()
    variables = {**variables_for(owner), **changes}
    text = load_operation(operation_name)
    general, answer = run_both(live_server.data_dir, owner, text, variables)
    assert answer == general
    if fast is not None:
        assert Recording.taken == [fast]
    if fast is False:
        assert json.loads(answer)["errors"]


def test_response_budget_error_is_the_general_one(live_server: Server, owner: User) -> None:
    Recording.taken.clear()
    text = load_operation("list_runs_history")
    variables = {**variables_for(owner), "first": 3, "samples": 100}
    limits = Limits(max_response_bytes=3000)
    general, fast = run_both(live_server.data_dir, owner, text, variables, limits)
    assert fast == general and Recording.taken == [False]
    assert "response too large" in json.loads(fast)["errors"][0]["message"]


def test_names_listing_is_the_full_listing_cut_down(live_server: Server, owner: User) -> None:
    """`ListRunNames` (node { name } only) is answered from the run names alone; names,
    cursors and page info are those of the full listing, in every order and window."""
    with owner.http() as client:
        for order in ("+created_at", "-created_at", "+display_name"):
            head = {"entity": owner.entity, "project": PROJECT, "order": order, "first": 1}
            cursor = data(client, load_operation("list_run_names"), head)["project"]["runs"]
            for first, after in ((2, None), (10, None), (1, cursor["pageInfo"]["endCursor"])):
                variables = {
                    "entity": owner.entity,
                    "project": PROJECT,
                    "filters": None,
                    "order": order,
                    "first": first,
                    "after": after,
                }
                names = data(client, load_operation("list_run_names"), variables)
                full = data(client, load_operation("list_runs"), variables)
                cut = [
                    {"node": {"name": e["node"]["name"]}, "cursor": e["cursor"]}
                    for e in full["project"]["runs"]["edges"]
                ]
                assert names["project"]["runs"]["edges"] == cut
                info = full["project"]["runs"]["pageInfo"]
                assert names["project"]["runs"]["pageInfo"] == {
                    k: info[k] for k in ("endCursor", "hasNextPage")
                }
