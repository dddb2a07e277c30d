"""Run attributes, create/load/update/delete, wait_until_finished and display helpers."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime

import pytest
from conftest import User
from seeding import close_apis, finish, make_api, new_run

import runapi

__all__ = ["close_apis"]


def test_create_and_attributes(user: User) -> None:
    api = make_api(user)
    run = runapi.Run.create(api, project="attrs", entity=user.entity)
    assert re.fullmatch(r"[a-z0-9]{8}", run.id)
    assert run.entity == user.entity
    assert run.project == "attrs"
    assert run.path == [user.entity, "attrs", run.id]
    assert run.state == "running"
    assert run.storage_id
    assert run.url == f"{user.server.url}/{user.entity}/attrs/runs/{run.id}"
    assert run.config == {}
    assert run.summary == {}
    assert run.tags == []
    assert isinstance(run.name, str) and run.name  # server may generate one
    assert isinstance(run.created_at, datetime)
    assert run.heartbeat_at == run.created_at  # a new run's heartbeat is its creation
    assert run.lastHistoryStep == -1
    assert run.system_metrics == {}
    assert run.metadata is None
    assert run.notes is None and run.group is None and run.job_type is None
    assert run.description is None
    assert json.loads(run.json_config) == {}
    with pytest.warns(DeprecationWarning, match="entity"):
        assert run.username == user.entity


def test_create_defaults_and_explicit_id(user: User) -> None:
    api = make_api(user)
    run = runapi.Run.create(api, run_id="myrun001", state="pending")
    assert run.entity == user.entity
    assert run.project == "uncategorized"
    assert run.id == "myrun001"
    assert run.state == "pending"


def test_api_run_accepts_every_path_form(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="forms")
    for path in (
        f"{user.entity}/forms/{run.id}",
        f"{user.entity}/forms/runs/{run.id}",
        run.url,
    ):
        assert api.run(path).storage_id == run.storage_id


def test_update_round_trip(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="update")
    run.name = "pretty name"
    run.tags.append("baseline")
    run.notes = "some notes"
    run.group = "g1"
    run.job_type = "train"
    run.config["lr"] = 0.01
    run.config["opt"] = {"name": "adam", "betas": [0.9, 0.999]}
    run.summary["loss"] = 0.25
    run.summary["nan"] = float("nan")
    run.update()
    again = api.run("/".join(run.path))
    assert again.name == "pretty name"
    assert again.display_name == "pretty name"
    assert again.tags == ["baseline"]
    assert again.notes == "some notes"
    assert again.group == "g1"
    assert again.job_type == "train"
    assert again.config == {"lr": 0.01, "opt": {"name": "adam", "betas": [0.9, 0.999]}}
    wrapped = json.loads(again.json_config)
    assert wrapped["lr"] == {"value": 0.01, "desc": None}
    assert again.summary["loss"] == 0.25
    assert again.summary["nan"] != again.summary["nan"]  # NaN survives
    # deleting keys
    del again.config["lr"]
    del again.summary["loss"]
    again.save()
    third = api.run("/".join(run.path))
    assert "lr" not in third.config and "opt" in third.config
    assert "loss" not in third.summary and "nan" in third.summary


def test_update_never_reverts_others_changes(user: User) -> None:
    api = make_api(user)
    created = new_run(api, user, project="merge")
    created.config.update({"a": 1, "b": 1})
    created.summary.update({"x": 1, "y": 1})
    created.tags = ["t0"]
    created.update()
    path = "/".join(created.path)
    mine = api.run(path)
    theirs = make_api(user).run(path)
    theirs.config["b"] = 2
    theirs.config["c"] = 3
    theirs.summary["y"] = 2
    theirs.notes = "their notes"
    theirs.update()
    # mine was loaded before their update; change other keys only
    mine.config["a"] = 10
    mine.summary["z"] = 5
    mine.tags.append("mine")
    mine.update()
    final = api.run(path)
    assert final.config == {"a": 10, "b": 2, "c": 3}
    assert final.summary == {"x": 1, "y": 2, "z": 5}
    assert final.notes == "their notes"
    assert final.tags == ["t0", "mine"]
    # mine's view is refreshed by update()
    assert mine.config == final.config


def test_update_without_changes_sends_nothing(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="noop")
    before = run.storage_id
    run.update()
    assert run.storage_id == before


def test_hidden_config_keys(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="hidden")
    from runapi_generated.input_types import UpsertBucketInput

    raw = {"_wandb": {"value": {"t": 1}}, "wandb_version": 1, "lr": {"value": 0.5, "desc": "d"}}
    gql = api._ctx.gql
    gql.call(
        gql.client.upsert_run,
        input=UpsertBucketInput(id=run.storage_id, config=json.dumps(raw)),
    )
    loaded = api.run("/".join(run.path))
    assert loaded.config == {"lr": 0.5}
    loaded.config["lr"] = 0.7
    loaded.update()
    stored = json.loads(api.run("/".join(run.path)).json_config)
    assert stored["lr"] == {"value": 0.7, "desc": "d"}  # desc kept
    assert "_wandb" in stored


def test_load_force_discards_local_edits(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="load")
    run.config["unsaved"] = True
    run.load()  # already loaded: no-op
    assert run.config == {"unsaved": True}
    run.load(force=True)
    assert run.config == {}


def test_lazy_run_loads_on_first_attribute(user: User) -> None:
    api = make_api(user)
    created = new_run(api, user, project="lazy")
    lazy = runapi.Run(api._ctx, runapi._paths.RunPath(user.entity, "lazy", created.id))
    assert "not loaded" in repr(lazy)
    assert lazy.storage_id == created.storage_id


def test_delete(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="del")
    run.delete()
    with pytest.raises(runapi.RunNotFoundError):
        api.run("/".join(run.path))
    other = new_run(api, user, project="del")
    other.delete(delete_artifacts=True)
    with pytest.raises(runapi.RunNotFoundError):
        other.load(force=True)


@pytest.mark.parametrize("state", ["finished", "failed", "crashed", "killed", "preempted"])
def test_wait_until_finished_returns_on_terminal_states(user: User, state: str) -> None:
    api = make_api(user)
    run = runapi.Run.create(api, project="wait", entity=user.entity, state=state)
    assert run.wait_until_finished(timeout=5, poll_interval=0.05) == state
    assert run.state == state


def test_wait_until_finished_sees_file_stream_finish(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="wait")
    timer = threading.Timer(0.3, finish, args=(user, run, 0))
    timer.start()
    try:
        assert run.wait_until_finished(timeout=10, poll_interval=0.05) == "finished"
    finally:
        timer.join()


def test_wait_until_finished_times_out(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="wait")
    start = time.monotonic()
    with pytest.raises(runapi.WaitTimeoutError, match="running"):
        run.wait_until_finished(timeout=0.3, poll_interval=0.05)
    assert time.monotonic() - start < 2
    with pytest.raises(ValueError):
        run.wait_until_finished(poll_interval=0)


def test_html_and_display(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="html")
    html = run.to_html(height=300)
    assert html.startswith("<iframe") and run.url in html and "height:300px" in html
    assert "display:none" in run.to_html(hidden=True)
    assert run._repr_html_().startswith("<table")  # Jupyter shows a compact table
    import importlib.util

    if importlib.util.find_spec("IPython") is None:
        assert run.display() is False


@pytest.mark.parametrize(
    ("snake", "camel"),
    [("job_type", "jobType"), ("heartbeat_at", "heartbeatAt"), ("name", "name"), ("a_b_c", "aBC")],
)
def test_snake_to_camel(snake: str, camel: str) -> None:
    assert runapi.Run.snake_to_camel(snake) == camel


def test_bad_field_values_are_refused_on_assignment(user: User) -> None:
    run = new_run(make_api(user), user, project="tags")
    with pytest.raises(ValueError, match="tags must be a list of str"):
        run.tags = "not-a-list"  # type: ignore[assignment]
    for field in ("notes", "group", "job_type", "description"):
        with pytest.raises(ValueError, match=f"{field} must be a str or None, not 5"):
            setattr(run, field, 5)
    run.notes, run.group = "kept", None
    assert (run.notes, run.group, run.tags) == ("kept", None, [])


def test_create_rejects_bad_input(user: User) -> None:
    api = make_api(user)
    with pytest.raises(ValueError, match="state"):
        runapi.Run.create(api, project="bad", entity=user.entity, state="exploded")
    with pytest.raises(ValueError, match="run_id"):
        runapi.Run.create(api, run_id="a/b", project="bad", entity=user.entity)
    with pytest.raises(ValueError, match="project"):
        runapi.Run.create(api, project="", entity=user.entity)
