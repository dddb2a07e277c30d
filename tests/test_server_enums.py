"""Every enum of schema.graphql works when a client sends it as a GraphQL variable.

wandb-core sends every input as a variable, so an enum that works only when written
inline breaks the real SDK. For each enum with an input position in the schema, a
request in `tests/operations/enum_variables/<Enum>.graphql` takes it as the variable
`$value`; every value is sent that way, and also nested in an input-object variable
where one holds it. Enums that appear only in results are checked to be output-only, so
a new input position fails this test until it has its operation.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, User, load_operation
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNamedType,
    build_schema,
    get_named_type,
)
from server_gql import data, error_messages, operation, upsert

ENUM_OPERATIONS = Path(__file__).resolve().parent / "operations" / "enum_variables"
SCHEMA = build_schema((ROOT / "schema.graphql").read_text())


def _input_positions(enum: GraphQLNamedType) -> list[str]:
    """Where ``enum`` may be sent by a client: field arguments and input-object fields."""
    places: list[str] = []
    for type_name, type_def in SCHEMA.type_map.items():
        if type_name.startswith("__"):
            continue
        if isinstance(type_def, GraphQLInputObjectType):
            for field_name, field in type_def.fields.items():
                if get_named_type(field.type) is enum:
                    places.append(f"{type_name}.{field_name}")
        for field_name, field in getattr(type_def, "fields", {}).items():
            for arg_name, arg in getattr(field, "args", {}).items():
                if get_named_type(arg.type) is enum:
                    places.append(f"{type_name}.{field_name}({arg_name})")
    return places


ENUMS = sorted(
    (t for n, t in SCHEMA.type_map.items() if isinstance(t, GraphQLEnumType) and n[:2] != "__"),
    key=lambda t: t.name,
)
INPUT_ENUMS = [e for e in ENUMS if _input_positions(e)]


def test_schema_has_enums_in_input_positions() -> None:
    assert "ArtifactDigestAlgorithm" in {e.name for e in INPUT_ENUMS}


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.name)
def test_each_input_enum_has_a_variable_operation(enum: GraphQLEnumType) -> None:
    path = ENUM_OPERATIONS / f"{enum.name}.graphql"
    if _input_positions(enum):
        assert path.exists(), f"{enum.name} is an input ({_input_positions(enum)}): add {path}"
    else:
        assert not path.exists(), f"{enum.name} has no input position; remove {path}"


def _variables(user: User) -> dict[str, Any]:
    """Every variable the operations use: a run and a new (PENDING) artifact of it.

    Extra variables an operation does not declare are ignored by GraphQL.
    """
    run = f"enum-{uuid.uuid4().hex[:8]}"
    input = {
        "entityName": user.entity,
        "projectName": "enums",
        "runName": run,
        "artifactTypeName": "dataset",
        "artifactCollectionNames": ["enum-setup"],
        "digest": f"setup-{uuid.uuid4().hex}",
        "digestAlgorithm": "MANIFEST_MD5",
    }
    with user.http() as client:
        upsert(client, entityName=user.entity, modelName="enums", name=run)
        artifact = data(client, load_operation("create_artifact"), {"input": input})
    artifact_id = artifact["createArtifact"]["artifact"]["id"]
    # An open multipart upload with its one part sent, for completeMultipartUploadArtifact.
    content = uuid.uuid4().bytes
    parts = [{"partNumber": 1, "hexMD5": hashlib.md5(content).hexdigest()}]
    spec = {
        "artifactID": artifact_id,
        "name": "big.bin",
        "md5": base64.b64encode(hashlib.md5(content).digest()).decode(),
        "uploadPartsInput": parts,
    }
    with user.http() as client:
        files = data(
            client,
            operation("create_artifact_files"),
            {"input": {"storageLayout": "V2", "artifactFiles": [spec]}},
        )
        node = files["createArtifactFiles"]["files"]["edges"][0]["node"]
        multipart = node["uploadMultipartUrls"]
        put = httpx.put(multipart["uploadUrlParts"][0]["uploadUrl"], content=content)
        assert put.status_code == 200, put.text
    return {
        "entity": user.entity,
        "digest": f"enum-{uuid.uuid4().hex}",
        "run": run,
        "artifact": artifact_id,
        "md5": base64.b64encode(hashlib.md5(b"enum").digest()).decode(),
        "storagePath": node["storagePath"],
        "uploadID": multipart["uploadID"],
        "parts": parts,
    }


@pytest.mark.parametrize(
    ("enum", "value"),
    [(e, v) for e in INPUT_ENUMS for v in e.values],
    ids=lambda x: x.name if isinstance(x, GraphQLEnumType) else str(x),
)
def test_every_enum_value_as_a_variable(user: User, enum: GraphQLEnumType, value: str) -> None:
    text = (ENUM_OPERATIONS / f"{enum.name}.graphql").read_text()
    with user.http() as client:
        result = data(client, text, {**_variables(user), "value": value})
    assert result, result


@pytest.mark.parametrize("enum", INPUT_ENUMS, ids=lambda e: e.name)
def test_an_unknown_enum_value_is_a_clear_error(user: User, enum: GraphQLEnumType) -> None:
    text = (ENUM_OPERATIONS / f"{enum.name}.graphql").read_text()
    with user.http() as client:
        messages = error_messages(client, text, {**_variables(user), "value": "NOT_A_VALUE"})
    # graphql-core 3.2 and 3.3 word it differently; both name the variable, value and enum.
    assert len(messages) == 1
    assert messages[0].startswith("Variable '$value' "), messages[0]
    assert "'NOT_A_VALUE'" in messages[0] and enum.name in messages[0]


def test_enum_inside_an_input_object_variable(user: User) -> None:
    """What wandb-core sends: the whole input as one variable, the enum inside it."""
    input = {
        "entityName": user.entity,
        "projectName": "enums",
        "artifactTypeName": "dataset",
        "artifactCollectionNames": ["nested"],
        "digest": f"nested-{uuid.uuid4().hex}",
        "digestAlgorithm": "MANIFEST_MD5",
    }
    with user.http() as client:
        result = data(client, load_operation("create_artifact"), {"input": input})
        assert result["createArtifact"]["artifact"]["digest"] == input["digest"]
        messages = error_messages(
            client,
            load_operation("create_artifact"),
            {"input": {**input, "digestAlgorithm": "MANIFEST_SHA0"}},
        )
    assert len(messages) == 1
    assert "MANIFEST_SHA0" in messages[0] and "digestAlgorithm" in messages[0]
