"""Logging an artifact version with files: the sequence wandb-core runs (see WIRE.md).

1. hash every local file (base64 MD5, size), concurrently;
2. `createArtifact` with the logical manifest digest (a committed version with the same
   digest comes back `COMMITTED`: nothing more to do);
3. `createArtifactManifest` (digest `""`) for the manifest id;
4. `createArtifactFiles` in batches: `uploadUrl` null means the server already stores the
   bytes; else `PUT` them (or their parts, for big files) to the signed URL, concurrently;
5. the manifest JSON (with each entry's birth artifact) goes up through a second
   `createArtifactManifest`, then `commitArtifact` makes the version `COMMITTED`.

A spec without files (metadata only) skips 3 to 5: its digest is that of its metadata.

Every request goes through the client's `RetryTransport`; uploads are re-sent from the
file on a retry (the body is re-read, never buffered whole).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from . import _rest as rest
from ._context import Context
from ._exceptions import ResponseValidationError
from ._http import MUTATION
from ._manifest import (
    MANIFEST_NAME,
    ArtifactManifest,
    ManifestEntry,
    hash_file,
    logical_digest,
    md5_base64,
)
from ._paths import RunPath
from ._progress import Progress

if TYPE_CHECKING:
    from runapi_generated.create_artifact_files import (
        CreateArtifactFilesCreateArtifactFilesFilesEdgesNode,
    )
    from runapi_generated.fragments import ArtifactFields
    from runapi_generated.input_types import CreateArtifactInput

UPLOAD_WORKERS = 8
"""Files hashed and uploaded at the same time."""
FILES_PER_REQUEST = 1000
"""File specs per `createArtifactFiles` call."""
MULTIPART_THRESHOLD = 2 << 30
"""Files of this size and more are uploaded in parts (as wandb-core does: 2 GiB)."""
PART_SIZE = 100 << 20
"""Part size of multipart uploads (wandb-core: 100 MiB)."""
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LocalFile:
    """A file to upload: its path in the artifact, where it is, its digest and size."""

    path: str
    local: Path
    digest: str
    size: int


@dataclass(frozen=True)
class UploadOptions:
    """How to upload: concurrency, progress bar, multipart threshold and part size."""

    workers: int = UPLOAD_WORKERS
    progress: bool | None = None
    multipart_threshold: int = MULTIPART_THRESHOLD
    part_size: int = PART_SIZE


class FileSlice(httpx.SyncByteStream):
    """`length` bytes of a file from `offset`, re-read from disk on every iteration (so a
    retried request re-sends the same bytes), reporting each chunk to `on_bytes`."""

    def __init__(
        self, path: Path, offset: int, length: int, on_bytes: Callable[[int], None]
    ) -> None:
        self._path = path
        self._offset = offset
        self._length = length
        self._on_bytes = on_bytes

    def __iter__(self) -> Iterator[bytes]:
        with open(self._path, "rb") as f:
            f.seek(self._offset)
            remaining = self._length
            while remaining > 0:
                chunk = f.read(min(_CHUNK, remaining))
                if not chunk:
                    raise OSError(f"{str(self._path)!r} shrank while it was uploaded")
                remaining -= len(chunk)
                self._on_bytes(len(chunk))
                yield chunk


def parse_headers(lines: list[str]) -> dict[str, str]:
    """`["Content-Type:text/plain"]` -> `{"Content-Type": "text/plain"}` (split on the
    first `:`; lines without one are skipped)."""
    headers: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            headers[key.strip()] = value.strip()
    return headers


def hash_files(files: Mapping[str, Path], workers: int) -> list[LocalFile]:
    """Digest and size of every file, `workers` at a time, sorted by artifact path."""

    def one(item: tuple[str, Path]) -> LocalFile:
        digest, size = hash_file(item[1])
        return LocalFile(item[0], item[1], digest, size)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sorted(pool.map(one, files.items()), key=lambda f: f.path)


def part_md5s(local: Path, part_size: int, size: int) -> list[str]:
    """Hex MD5 of each `part_size` part of the file (the last one shorter)."""
    out: list[str] = []
    with open(local, "rb") as f:
        for _ in range(0, size, part_size):
            hasher = hashlib.md5()
            remaining = part_size
            while remaining > 0 and (chunk := f.read(min(_CHUNK, remaining))):
                hasher.update(chunk)
                remaining -= len(chunk)
            out.append(hasher.hexdigest())
    return out


class Uploader:
    """Runs the sequence for one new version; `run()` returns the committed artifact."""

    def __init__(
        self,
        ctx: Context,
        path: RunPath,
        artifact_input: CreateArtifactInput,
        files: list[LocalFile],
        options: UploadOptions,
    ) -> None:
        self._ctx = ctx
        self._path = path
        self._input = artifact_input
        self._files = files
        self._options = options
        self._lock = threading.Lock()

    def run(self) -> ArtifactFields:
        """createArtifact ... commitArtifact; the committed (or deduplicated) version."""
        from runapi_generated.enums import ArtifactState

        gql = self._ctx.gql
        created = gql.call(gql.client.create_artifact, input=self._input, extensions=MUTATION)
        if created is None:
            raise ResponseValidationError("createArtifact returned no artifact")
        artifact = created.artifact
        if artifact.state == ArtifactState.COMMITTED:
            return artifact
        if not self._files:
            # Metadata only: its digest is the metadata's, so no manifest goes with it.
            return self._commit(artifact.id)
        latest = artifact.sequence.latest_artifact
        base_id = latest.id if latest is not None and latest.id != artifact.id else None
        manifest_id = self._create_manifest(artifact.id, base_id, "")[0]
        births = self._upload_files(artifact.id, manifest_id)
        manifest = ArtifactManifest(
            entries={
                f.path: ManifestEntry(f.path, f.digest, f.size, births[f.path]) for f in self._files
            }
        )
        body = manifest.to_json()
        _, url, headers = self._create_manifest(artifact.id, base_id, md5_base64(body))
        if url is None:
            raise ResponseValidationError("createArtifactManifest returned no upload URL")
        self._put(url, headers, body, "the artifact manifest")
        return self._commit(artifact.id)

    # -- GraphQL steps ---------------------------------------------------------------------

    def _create_manifest(
        self, artifact_id: str, base_id: str | None, digest: str
    ) -> tuple[str, str | None, dict[str, str]]:
        from runapi_generated.enums import ArtifactManifestType
        from runapi_generated.input_types import CreateArtifactManifestInput

        gql = self._ctx.gql
        result = gql.call(
            gql.client.create_artifact_manifest,
            input=CreateArtifactManifestInput(
                artifact_id=artifact_id,
                base_artifact_id=base_id,
                name=MANIFEST_NAME,
                digest=digest,
                entity_name=self._path.entity,
                project_name=self._path.project,
                run_name=self._path.run_id,
                type=ArtifactManifestType.FULL,
            ),
            extensions=MUTATION,
        )
        if result is None:
            raise ResponseValidationError("createArtifactManifest returned no manifest")
        record = result.artifact_manifest
        return record.id, record.file.upload_url, parse_headers(record.file.upload_headers)

    def _commit(self, artifact_id: str) -> ArtifactFields:
        from runapi_generated.input_types import CommitArtifactInput

        gql = self._ctx.gql
        result = gql.call(
            gql.client.commit_artifact,
            input=CommitArtifactInput(artifact_id=artifact_id),
            extensions=MUTATION,
        )
        if result is None:
            raise ResponseValidationError("commitArtifact returned no artifact")
        return result.artifact

    def _upload_files(self, artifact_id: str, manifest_id: str) -> dict[str, str | None]:
        """createArtifactFiles in batches, then the uploads; path -> birth artifact id."""
        births: dict[str, str | None] = {}
        jobs: list[tuple[LocalFile, CreateArtifactFilesCreateArtifactFilesFilesEdgesNode]] = []
        for start in range(0, len(self._files), FILES_PER_REQUEST):
            batch = self._files[start : start + FILES_PER_REQUEST]
            nodes = self._create_files(artifact_id, manifest_id, batch)
            for local, node in zip(batch, nodes, strict=True):
                births[local.path] = node.artifact.id if node.artifact is not None else None
                if node.upload_url is not None or node.upload_multipart_urls is not None:
                    jobs.append((local, node))
        total = sum(local.size for local, _ in jobs)
        label = f"upload {self._input.artifact_collection_name}"
        with Progress(
            total or None, unit="bytes", label=label, enabled=self._options.progress
        ) as bar:

            def count(amount: int) -> None:
                with self._lock:
                    bar.update(amount)

            def one(
                job: tuple[LocalFile, CreateArtifactFilesCreateArtifactFilesFilesEdgesNode],
            ) -> None:
                local, node = job
                if node.upload_multipart_urls is not None:
                    self._upload_parts(local, node, count)
                else:
                    assert node.upload_url is not None
                    headers = parse_headers(node.upload_headers)
                    stream = FileSlice(local.local, 0, local.size, count)
                    self._put(node.upload_url, headers, stream, repr(local.path), local.size)

            with ThreadPoolExecutor(max_workers=self._options.workers) as pool:
                for _ in pool.map(one, jobs):
                    pass
        return births

    def _create_files(
        self, artifact_id: str, manifest_id: str, batch: list[LocalFile]
    ) -> list[CreateArtifactFilesCreateArtifactFilesFilesEdgesNode]:
        from runapi_generated.enums import ArtifactStorageLayout
        from runapi_generated.input_types import (
            CreateArtifactFilesInput,
            CreateArtifactFileSpecInput,
            UploadPartsInput,
        )

        specs = []
        for local in batch:
            parts = None
            if local.size >= self._options.multipart_threshold:
                md5s = part_md5s(local.local, self._options.part_size, local.size)
                parts = [
                    UploadPartsInput(part_number=i + 1, hex_md_5=md5) for i, md5 in enumerate(md5s)
                ]
            specs.append(
                CreateArtifactFileSpecInput(
                    artifact_id=artifact_id,
                    name=local.path,
                    md_5=local.digest,
                    artifact_manifest_id=manifest_id,
                    upload_parts_input=parts,
                )
            )
        gql = self._ctx.gql
        result = gql.call(
            gql.client.create_artifact_files,
            input=CreateArtifactFilesInput(
                artifact_files=specs, storage_layout=ArtifactStorageLayout.V2
            ),
            extensions=MUTATION,
        )
        if result is None:
            raise ResponseValidationError("createArtifactFiles returned nothing")
        nodes = [e.node for e in result.files.edges]
        if len(nodes) != len(batch) or any(n is None for n in nodes):
            raise ResponseValidationError(
                f"createArtifactFiles returned {len(nodes)} files for {len(batch)} specs"
            )
        return [n for n in nodes if n is not None]

    def _upload_parts(
        self,
        local: LocalFile,
        node: CreateArtifactFilesCreateArtifactFilesFilesEdgesNode,
        count: Callable[[int], None],
    ) -> None:
        from runapi_generated.enums import CompleteMultipartAction
        from runapi_generated.input_types import (
            CompleteMultipartUploadArtifactInput,
            UploadPartsInput,
        )

        multipart = node.upload_multipart_urls
        assert multipart is not None
        if node.artifact is None or node.storage_path is None:
            raise ResponseValidationError(
                f"createArtifactFiles gave multipart URLs for {local.path!r} without "
                "its birth artifact or storage path"
            )
        headers = parse_headers(node.upload_headers)
        part_size = self._options.part_size
        completed = []
        for part in sorted(multipart.upload_url_parts, key=lambda p: p.part_number):
            offset = (part.part_number - 1) * part_size
            length = max(0, min(part_size, local.size - offset))
            stream = FileSlice(local.local, offset, length, count)
            what = f"{local.path!r} part {part.part_number}"
            response = self._put(part.upload_url, headers, stream, what, length)
            etag = response.headers.get("ETag", "").strip('"')
            if not etag:
                raise ResponseValidationError(f"PUT upload of {what} returned no ETag")
            completed.append(UploadPartsInput(part_number=part.part_number, hex_md_5=etag))
        gql = self._ctx.gql
        gql.call(
            gql.client.complete_multipart_upload_artifact,
            input=CompleteMultipartUploadArtifactInput(
                complete_multipart_action=CompleteMultipartAction.Complete,
                completed_parts=completed,
                artifact_id=node.artifact.id,
                storage_path=node.storage_path,
                upload_id=multipart.upload_id,
            ),
            extensions=MUTATION,
        )

    # -- HTTP ------------------------------------------------------------------------------

    def _put(
        self,
        url: str,
        headers: dict[str, str],
        content: bytes | FileSlice,
        what: str,
        length: int | None = None,
    ) -> httpx.Response:
        """PUT to a signed URL without the API key (retried by the transport)."""
        send = dict(headers)
        if length is not None:
            send["Content-Length"] = str(length)
        return rest.send(
            self._ctx,
            "PUT",
            url,
            what=f"PUT upload of {what}",
            signed=True,
            long=True,
            content=content,
            headers=send,
        )


def digest_of(files: list[LocalFile]) -> str:
    """The logical digest of the files' manifest (what `createArtifact` is sent)."""
    return logical_digest(ManifestEntry(f.path, f.digest, f.size) for f in files)
