"""Run files: ``Run.files`` / ``Run.fileCount``, the ``File`` type and ``createRunFiles``.

Only files with content are listed (uploaded or streamed); ``createRunFiles`` hands out
signed upload URLs and lists nothing, so a pending upload is not listed until its ``PUT``
completes (with a bucket: until a read finds its object, see
:mod:`runapi_server.bucket_files`). ``File`` resolvers take a
:class:`runapi_server.runfiles.FileRecord`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from typing import Any

from ariadne import MutationType, ObjectType
from ariadne.types import SchemaBindable
from graphql import GraphQLResolveInfo

from runapi_server import bucket_files, runfiles, signing
from runapi_server.artifact_store import ArtifactFile
from runapi_server.context import context_of
from runapi_server.errors import BadInput
from runapi_server.lookup import find_run, storage_id
from runapi_server.runfiles import FileRecord
from runapi_server.storage import files as stored_files

UPLOAD_HEADERS = ["Content-Type:application/octet-stream"]
CURSOR_PREFIX = "FileCursor:"

run = ObjectType("Run")
file = ObjectType("File")
mutation = MutationType()


def encode_cursor(name: str) -> str:
    return base64.b64encode((CURSOR_PREFIX + name).encode()).decode()


def decode_cursor(cursor: str, argument: str) -> str:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith(CURSOR_PREFIX):
        raise BadInput(f"invalid '{argument}' cursor {cursor!r}: use a cursor from files()")
    return text[len(CURSOR_PREFIX) :]


def _count(value: int | None, argument: str) -> int | None:
    if value is not None and value < 0:
        raise BadInput(f"'{argument}' must not be negative, got {value}")
    return value


@run.field("fileCount")
def resolve_file_count(parent: Any, info: GraphQLResolveInfo) -> int:
    state = context_of(info).state
    bucket_files.settle(state, parent["id"])
    return stored_files.count_files(state.db.read(), parent["id"])


@run.field("files")
def resolve_files(
    parent: Any,
    info: GraphQLResolveInfo,
    names: list[str | None] | None = None,
    pattern: str | None = None,
    after: str | None = None,
    before: str | None = None,
    first: int | None = None,
    last: int | None = None,
) -> dict[str, Any]:
    first, last = _count(first, "first"), _count(last, "last")
    context_of(info).state.limits.check_page_size(first, last)
    bucket_files.settle(context_of(info).state, parent["id"])
    after_name = None if after is None else decode_cursor(after, "after")
    before_name = None if before is None else decode_cursor(before, "before")
    from_end = first is None and last is not None
    limit = first if first is not None else last
    rows = stored_files.list_files(
        context_of(info).state.db.read(),
        parent["id"],
        # An empty list means every file, as on W&B (wandb sends `$fileNames = []`).
        names=[n for n in names or [] if n is not None] or None,
        pattern=pattern,
        after=after_name,
        before=before_name,
        limit=None if limit is None else limit + 1,
        from_end=from_end,
    )
    has_next = has_previous = False
    if limit is not None and len(rows) > limit:
        if from_end:
            rows, has_previous = rows[1:], True
        else:
            rows, has_next = rows[:limit], True
    if first is not None and last is not None and len(rows) > last:
        rows, has_previous = rows[len(rows) - last :], True
    records = [runfiles.record_of(parent, row) for row in rows]
    edges = [{"node": record, "cursor": encode_cursor(record.name)} for record in records]
    return {
        "edges": edges,
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
        },
        "uploadHeaders": [],
    }


@file.field("id")
def resolve_file_id(record: FileRecord | ArtifactFile, info: GraphQLResolveInfo) -> str:
    if isinstance(record, ArtifactFile):
        return record.id
    return record.id


@file.field("name")
def resolve_file_name(record: FileRecord | ArtifactFile, info: GraphQLResolveInfo) -> str:
    if isinstance(record, ArtifactFile):
        return record.name
    return record.name


def _upload_url(record: FileRecord, info: GraphQLResolveInfo) -> str:
    ctx = context_of(info)
    if record.upload_url is not None:
        return record.upload_url
    if ctx.state.bucket is not None:
        run_row = find_run(
            ctx.state.db.read(), ctx.user, record.entity, record.project, record.run_name
        )
        if run_row is None or run_row["id"] != record.run_db_id:
            raise BadInput(f"run {record.entity}/{record.project}/{record.run_name} not found")
        return bucket_files.upload_url(ctx.state, run_row, record.name)
    return signing.upload_url(ctx.state.secret, ctx.base_url, record.grant, record.name)


@file.field("url")
def resolve_file_url(
    record: FileRecord | ArtifactFile, info: GraphQLResolveInfo, upload: bool | None = None
) -> str | None:
    if isinstance(record, ArtifactFile):
        return record.upload_url if upload else record.url
    if upload:
        return _upload_url(record, info)
    return signing.download_url(
        context_of(info).base_url, record.entity, record.project, record.run_name, record.name
    )


@file.field("directUrl")
def resolve_file_direct_url(record: FileRecord | ArtifactFile, info: GraphQLResolveInfo) -> str:
    if isinstance(record, ArtifactFile):
        return record.direct_url
    ctx = context_of(info)
    if ctx.state.bucket is not None and record.storage is not None and not record.streamed:
        return bucket_files.download_url(ctx.state, record.storage)
    return signing.direct_url(ctx.state.secret, ctx.base_url, record.grant, record.name)


@file.field("uploadUrl")
def resolve_file_upload_url(
    record: FileRecord | ArtifactFile, info: GraphQLResolveInfo
) -> str | None:
    if isinstance(record, ArtifactFile):
        return record.upload_url
    return _upload_url(record, info)


@file.field("sizeBytes")
def resolve_file_size(record: FileRecord | ArtifactFile, info: GraphQLResolveInfo) -> int | None:
    if isinstance(record, ArtifactFile):
        return record.size
    return record.size


@file.field("mimetype")
def resolve_file_mimetype(record: FileRecord | ArtifactFile, info: GraphQLResolveInfo) -> str:
    if isinstance(record, ArtifactFile):
        return runfiles.mimetype_of(record.name)
    return record.mimetype


@file.field("updatedAt")
def resolve_file_updated_at(
    record: FileRecord | ArtifactFile, info: GraphQLResolveInfo
) -> str | None:
    if isinstance(record, ArtifactFile):
        return record.updated_at
    return record.updated_at


@file.field("md5")
def resolve_file_md5(record: FileRecord | ArtifactFile, info: GraphQLResolveInfo) -> str | None:
    if isinstance(record, ArtifactFile):
        return record.md5
    if record.md5 is None and record.streamed:
        conn = context_of(info).state.db.read()
        return runfiles.md5_base64(
            stored_files.streamed_content(conn, record.run_db_id, record.name)
        )
    return record.md5


@mutation.field("createRunFiles")
def resolve_create_run_files(
    _parent: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = context_of(info)
    entity, project, run_name = input["entityName"], input["projectName"], input["runName"]
    names: list[str] = input["files"]
    for name in names:
        problem = runfiles.check_file_name(name)
        if problem:
            raise BadInput(f"createRunFiles: {problem}")
    conn = ctx.state.db.read()
    run_row = find_run(conn, ctx.user, entity, project, run_name)
    if run_row is None:
        raise BadInput(f"run {entity}/{project}/{run_name} not found")
    bucket_files.settle(ctx.state, run_row["id"])
    conn = ctx.state.db.read()
    records = []
    for name in names:
        row = stored_files.find_file(conn, run_row["id"], name)
        record = (
            runfiles.pending_record(run_row, name)
            if row is None
            else runfiles.record_of(run_row, row)
        )
        if ctx.state.bucket is not None:
            url = bucket_files.upload_url(ctx.state, run_row, name)
            record = dataclasses.replace(record, upload_url=url)
        records.append(record)
    return {
        "runID": storage_id(run_row["name"], run_row["project_name"], run_row["entity"]),
        "uploadHeaders": UPLOAD_HEADERS,
        "files": records,
        "clientMutationId": input.get("clientMutationId"),
    }


BINDABLES: list[SchemaBindable] = [run, file, mutation]
