"""The exception tree and the errors users meet: bad key, missing run, bad path, no key."""

from __future__ import annotations

import httpx
import pytest
from conftest import User
from seeding import close_apis, make_api, new_run

import runapi
from runapi._exceptions import status_error

__all__ = ["close_apis"]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, runapi.BadRequestError),
        (401, runapi.AuthenticationError),
        (403, runapi.PermissionDeniedError),
        (404, runapi.NotFoundError),
        (409, runapi.ConflictError),
        (422, runapi.APIStatusError),
        (429, runapi.RateLimitError),
        (500, runapi.ServerError),
        (502, runapi.ServerError),
        (599, runapi.ServerError),
    ],
)
def test_status_error_mapping(status: int, cls: type[runapi.APIStatusError]) -> None:
    error = status_error(status, "m")
    assert type(error) is cls
    assert error.status_code == status
    assert isinstance(error, runapi.RunapiError)


def test_tree() -> None:
    for cls in (
        runapi.RunNotFoundError,
        runapi.ArtifactNotFoundError,
        runapi.RunFileNotFoundError,
        runapi.ProjectNotFoundError,
    ):
        assert issubclass(cls, runapi.NotFoundError)
    assert issubclass(runapi.NotFoundError, runapi.APIStatusError)
    assert issubclass(runapi.APITimeoutError, runapi.APIConnectionError)
    for root_child in (
        runapi.APIStatusError,
        runapi.APIConnectionError,
        runapi.GraphQLError,
        runapi.ResponseValidationError,
        runapi.WaitTimeoutError,
        runapi.ConfigurationError,
    ):
        assert issubclass(root_child, runapi.RunapiError)
    assert issubclass(runapi.ConfigurationError, ValueError)
    assert issubclass(runapi.WaitTimeoutError, TimeoutError)


def test_bad_key_is_authentication_error(user: User) -> None:
    api = make_api(user)
    bad = runapi.Api(api_key="local-" + "0" * 40, base_url=user.server.url)
    try:
        with pytest.raises(runapi.AuthenticationError) as info:
            bad.run(f"{user.entity}/p/abc")
        assert info.value.status_code == 401
        assert isinstance(info.value.response, httpx.Response)
        assert "WANDB_API_KEY" in str(info.value)
    finally:
        bad.close()
    assert api.viewer().name == user.name


def test_missing_run_names_the_path(user: User) -> None:
    api = make_api(user)
    new_run(api, user, project="exists")
    with pytest.raises(runapi.RunNotFoundError, match=f"{user.entity}/exists/nosuchrun"):
        api.run(f"{user.entity}/exists/nosuchrun")
    with pytest.raises(runapi.RunNotFoundError, match="noproject"):
        api.run(f"{user.entity}/noproject/abc")


def test_other_entitys_run_reads_as_not_found(user: User, other_user: User) -> None:
    run = new_run(make_api(user), user, project="private")
    with pytest.raises(runapi.NotFoundError):
        make_api(other_user).run("/".join(run.path))


def test_bad_path_is_value_error_without_io(user: User) -> None:
    api = make_api(user)
    with pytest.raises(ValueError, match="entity/project/run_id"):
        api.run("just-a-run-id")
    with pytest.raises(ValueError, match="entity/project"):
        api.runs("only-entity")
    with pytest.raises(ValueError, match="name:version"):
        api.artifact("e/p")


def test_missing_key_says_how_to_set_it(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(runapi.ConfigurationError) as info:
        runapi.Api(base_url="http://127.0.0.1:1")
    message = str(info.value)
    assert "WANDB_API_KEY" in message
    assert "api_key" in message
    assert ".netrc" in message


def test_graphql_error_keeps_errors_and_data(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="gqlerr")
    with pytest.raises(runapi.GraphQLError) as info:
        run.use_artifact(_fake_artifact(api))
    error = info.value
    assert [e["message"] for e in error.errors] == ["artifact 'QXJ0aWZhY3Q6OTk5OTk5' not found"]
    assert error.data == {"useArtifact": None}  # the partial data, kept


def _fake_artifact(api: runapi.Api) -> runapi.Artifact:
    from runapi_generated.fragments import ArtifactFields

    return runapi.Artifact(
        api._ctx,
        ArtifactFields.model_validate(
            {
                "id": "QXJ0aWZhY3Q6OTk5OTk5",
                "digest": "d",
                "description": None,
                "state": "COMMITTED",
                "size": 0,
                "fileCount": 0,
                "versionIndex": 0,
                "metadata": None,
                "createdAt": "2024-01-01T00:00:00",
                "updatedAt": None,
                "historyStep": None,
                "aliases": [],
                "tags": [],
                "artifactType": {"name": "dataset"},
                "artifactSequence": {"id": "x", "name": "ghost", "project": None},
            }
        ),
    )
