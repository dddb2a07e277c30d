"""Artifacts: log_artifact, use_artifact, logged/used listings, api.artifact."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import User
from seeding import close_apis, make_api, new_run

import runapi

__all__ = ["close_apis"]


def test_log_and_use(user: User) -> None:
    api = make_api(user)
    producer = new_run(api, user, project="art")
    consumer = new_run(api, user, project="art")
    spec = runapi.ArtifactSpec(
        name="mnist", type="dataset", description="digits", metadata={"rows": 60000}
    )
    first = producer.log_artifact(spec, aliases=["latest", "best"], tags=["raw"])
    assert isinstance(first, runapi.Artifact)
    assert first.name == "mnist:v0"
    assert first.version == "v0"
    assert first.type == "dataset"
    assert set(first.aliases) >= {"latest", "best"}
    assert first.metadata == {"rows": 60000}
    assert first.description == "digits"
    expected = hashlib.md5(
        json.dumps(
            {"metadata": {"rows": 60000}, "type": "dataset"}, sort_keys=True, separators=(",", ":")
        ).encode()
    ).hexdigest()
    assert first.digest == expected
    assert first.id and first.created_at and first.size >= 0
    assert first.entity == user.entity and first.project == "art"

    second = producer.log_artifact(
        runapi.ArtifactSpec(name="mnist", type="dataset", metadata={"rows": 70000})
    )
    assert second.version == "v1"
    assert "latest" in second.aliases

    logged = producer.logged_artifacts(per_page=1)
    assert isinstance(logged, runapi.Paginator)
    assert len(logged) == 2
    assert sorted(a.name for a in logged) == ["mnist:v0", "mnist:v1"]

    used = consumer.use_artifact(first, use_as="train-data")
    assert used.id == first.id
    consumer.use_artifact(f"{user.entity}/art/mnist:v1")
    inputs = consumer.used_artifacts()
    assert len(inputs) == 2
    assert sorted(a.name for a in inputs) == ["mnist:v0", "mnist:v1"]
    assert len(consumer.logged_artifacts()) == 0


def test_api_artifact(user: User) -> None:
    api = make_api(user)
    run = new_run(api, user, project="lookup")
    logged = run.log_artifact(runapi.ArtifactSpec(name="model", type="model"), aliases=["prod"])
    for path in (
        f"{user.entity}/lookup/model:v0",
        f"{user.entity}/lookup/model:prod",
        f"{user.entity}/lookup/model:latest",
        f"{user.entity}/lookup/model",
    ):
        found = api.artifact(path)
        assert found.id == logged.id, path
        assert found.qualified_name == f"{user.entity}/lookup/model:v0"
    with pytest.raises(runapi.ArtifactNotFoundError, match="model:v9"):
        api.artifact(f"{user.entity}/lookup/model:v9")
    with pytest.raises(runapi.NotFoundError):
        api.artifact(f"{user.entity}/no-such-project/model:v0")


def test_spec_validation() -> None:
    with pytest.raises(ValueError):
        runapi.ArtifactSpec(name="a/b", type="t")
    with pytest.raises(ValueError):
        runapi.ArtifactSpec(name="a", type="")
    assert runapi.ArtifactSpec(name="a", type="t", digest="abc").resolved_digest == "abc"


def test_log_artifact_bad_input(user: User) -> None:
    run = new_run(make_api(user), user, project="bad")
    with pytest.raises(TypeError):
        run.log_artifact("model:v0")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        run.log_artifact(runapi.ArtifactSpec(name="m", type="t"), aliases=[""])


def test_version_numbers_are_never_reused_after_a_deletion(user: User) -> None:
    api = make_api(user)
    first, second, third = (new_run(api, user, project="versions") for _ in range(3))
    v0 = first.log_artifact(runapi.ArtifactSpec("data", "dataset", metadata={"n": 0}))
    v1 = second.log_artifact(runapi.ArtifactSpec("data", "dataset", metadata={"n": 1}))
    assert (v0.version, v1.version) == ("v0", "v1")
    second.delete(delete_artifacts=True)
    v2 = third.log_artifact(runapi.ArtifactSpec("data", "dataset", metadata={"n": 2}))
    assert v2.version == "v2"  # v1 named the deleted version; it stays unused
    assert api.artifact(f"{user.entity}/versions/data:latest").metadata == {"n": 2}
