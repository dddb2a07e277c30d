"""A run's files over GraphQL: listing pages and uploading (`Run.files`, `Run.upload_file`)."""

from __future__ import annotations

import fnmatch
import mimetypes
from pathlib import Path

from . import _rest as rest
from ._context import Context
from ._exceptions import ResponseValidationError
from ._files import File
from ._http import MUTATION
from ._lookup import require_run
from ._pagination import Page, next_cursor
from ._paths import RunPath

METADATA_FILE = "wandb-metadata.json"
"""The run file holding the SDK's metadata (host, python, git, ...): `Run.metadata`."""


def is_glob(pattern: str) -> bool:
    """Whether ``pattern`` is a glob (``*.json``) rather than SQL LIKE (``%.json``)."""
    return "*" in pattern or "?" in pattern


def server_pattern(pattern: str | None) -> str | None:
    """What the server is sent: LIKE as given; a glob as the LIKE pattern matching a
    superset of it (``*`` -> ``%``, ``?`` -> ``_``), narrowed on the client."""
    if pattern is None or not is_glob(pattern):
        return pattern
    return pattern.replace("*", "%").replace("?", "_")


def files_page(
    ctx: Context,
    path: RunPath,
    first: int,
    after: str | None,
    *,
    names: list[str] | None,
    pattern: str | None,
) -> Page[File]:
    """One page of the run's files; the total only when nothing filters the list.

    A glob ``pattern`` is sent as LIKE and each page keeps exactly the names the glob
    matches (LIKE's ``_`` and ``%`` would also match other characters).
    """
    run = require_run(
        ctx.gql.call(
            ctx.gql.client.list_run_files,
            path.entity,
            path.project,
            path.run_id,
            names=list[str | None](names) if names is not None else None,
            pattern=server_pattern(pattern),
            first=first,
            after=after,
        ),
        path,
    )
    if run.files is None:
        return Page([], None, False, run.file_count)
    edges = run.files.edges
    items = [File(ctx, e.node) for e in edges if e.node is not None]
    if pattern is not None and is_glob(pattern):
        items = [f for f in items if fnmatch.fnmatchcase(f.name, pattern)]
    cursor = next_cursor(run.files.page_info.end_cursor, edges)
    total = run.file_count if names is None and pattern is None else None
    return Page(items, cursor, run.files.page_info.has_next_page, total)


def upload_name(local: Path, root: Path) -> str:
    """The run file name of `local`: its path relative to `root`, with `/` separators."""
    if not local.is_file():
        raise FileNotFoundError(f"no such file: {str(local)!r}")
    try:
        return local.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise ValueError(f"{str(local)!r} is not under root {str(root)!r}") from None


def upload(ctx: Context, path: RunPath, name: str, content: bytes) -> None:
    """`createRunFiles` for `name`, then `PUT` the bytes to the signed URL without the key."""
    from runapi_generated.input_types import CreateRunFilesInput

    result = ctx.gql.call(
        ctx.gql.client.create_run_files,
        input=CreateRunFilesInput.model_validate(
            {
                "entityName": path.entity,
                "projectName": path.project,
                "runName": path.run_id,
                "files": [name],
            }
        ),
        extensions=MUTATION,
    )
    if result is None:
        raise ResponseValidationError(f"createRunFiles returned nothing for {name!r}")
    target = next((f for f in result.files if f.name == name), None)
    if target is None or not target.upload_url:
        raise ResponseValidationError(f"createRunFiles returned no upload URL for {name!r}")
    headers: dict[str, str] = {}
    for header in result.upload_headers:
        key, sep, value = header.partition(":")
        if sep:
            headers[key.strip()] = value.strip()
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = mimetypes.guess_type(name)[0] or "application/octet-stream"
    what = f"PUT upload of {name!r}"
    rest.send(
        ctx,
        "PUT",
        target.upload_url,
        what=what,
        signed=True,
        long=True,
        content=content,
        headers=headers,
    )
