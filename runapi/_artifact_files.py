"""Files of an artifact version: `ArtifactFile`, and verified, resumable, concurrent downloads."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import _rest as rest
from ._context import Context
from ._exceptions import ArtifactChecksumError, ArtifactFileNotFoundError
from ._manifest import ArtifactManifest, ManifestEntry, hash_file, md5_base64_to_hex
from ._progress import Progress

if TYPE_CHECKING:
    from runapi_generated.fragments import ArtifactFileFields

DOWNLOAD_WORKERS = 8
"""Files downloaded at the same time by `Artifact.download`."""


class ArtifactFile:
    """One file of an artifact version (`artifact.files()`, `artifact.file(name)`).

    ```python
    f = artifact.file("data/train.csv")
    f.name, f.size, f.digest           # path in the artifact, bytes, base64 MD5
    path = f.download(root="out")      # out/data/train.csv, MD5 checked
    ```
    """

    def __init__(self, ctx: Context, fields: ArtifactFileFields) -> None:
        self._ctx = ctx
        self._fields = fields

    @property
    def id(self) -> str:
        """The server's opaque file id."""
        return self._fields.id

    @property
    def name(self) -> str:
        """The file's path inside the artifact (its manifest path)."""
        return self._fields.name

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self._fields.size_bytes

    @property
    def digest(self) -> str:
        """Base64 MD5 of the content (the manifest entry's digest)."""
        return self._fields.digest or self._fields.md_5 or ""

    @property
    def md5_hex(self) -> str:
        """The digest as hex."""
        return md5_base64_to_hex(self.digest)

    @property
    def direct_url(self) -> str:
        """Signed download URL (no key needed)."""
        return self._fields.direct_url

    def download(self, root: str | os.PathLike[str] = ".", progress: bool | None = None) -> Path:
        """Download to `root/<name>`, checking size and MD5; returns the path.

        A file already there with the right size and MD5 is kept as is. Raises
        `ArtifactChecksumError` (writing nothing) when the bytes do not match.
        """
        entry = ManifestEntry(path=self.name, digest=self.digest, size=self.size)
        target = target_path(Path(root), self.name)
        if is_present(target, entry):
            return target
        with Progress(self.size or None, unit="bytes", label=self.name, enabled=progress) as bar:
            fetch_verified(self._ctx, self.direct_url, target, entry, bar.update)
        return target

    def __repr__(self) -> str:
        return f"<ArtifactFile {self.name} ({self.size} bytes)>"


def target_path(root: Path, name: str) -> Path:
    """`root/name`, refusing names that would land outside `root` (`ValueError`)."""
    target = root / name
    resolved = root.resolve()
    if resolved not in target.resolve().parents:
        raise ValueError(f"artifact file name {name!r} escapes the download root {str(root)!r}")
    return target


def is_present(target: Path, entry: ManifestEntry) -> bool:
    """Whether `target` already holds exactly the entry's bytes (size, then MD5)."""
    try:
        if not target.is_file() or target.stat().st_size != entry.size:
            return False
        return hash_file(target)[0] == entry.digest
    except OSError:
        return False


def fetch_verified(
    ctx: Context,
    url: str,
    target: Path,
    entry: ManifestEntry,
    on_bytes: Callable[[int], None],
) -> None:
    """GET `url` (signed: no API key) into a temporary file beside `target`, check size and
    MD5 against `entry`, then rename it onto `target`. On any failure the temporary file is
    removed and `target` is left as it was."""

    def mismatch(size: int, md5: str) -> ArtifactChecksumError:
        return ArtifactChecksumError(
            f"artifact file {entry.path!r} does not match its manifest: expected "
            f"{entry.size} bytes with MD5 {entry.digest}, got {size} bytes with MD5 {md5}",
            name=entry.path,
            expected_digest=entry.digest,
            actual_digest=md5,
            expected_size=entry.size,
            actual_size=size,
        )

    rest.download(
        ctx,
        url,
        target,
        what=f"GET artifact file {entry.path!r}",
        signed=True,
        expected=rest.Expected(entry.size, entry.digest),
        mismatch=mismatch,
        on_bytes=on_bytes,
    )


@dataclass(frozen=True)
class _Job:
    entry: ManifestEntry
    url: str
    target: Path


def download_all(
    ctx: Context,
    manifest: ArtifactManifest,
    files: Iterable[ArtifactFile],
    root: Path,
    *,
    label: str,
    progress: bool | None,
    workers: int = DOWNLOAD_WORKERS,
) -> None:
    """Download every stored entry of `manifest` under `root`, `workers` at a time.

    Files already present and correct are kept (a rerun resumes). The first error stops
    the rest (files not started are not fetched) and is raised once the running ones end;
    every file written is complete and verified.
    """
    urls = {f.name: f.direct_url for f in files}
    jobs: list[_Job] = []
    for entry in manifest.entries.values():
        if entry.ref is not None:
            continue
        target = target_path(root, entry.path)
        url = urls.get(entry.path)
        if url is None:
            raise ArtifactFileNotFoundError(f"the server lists no file {entry.path!r} ({label})")
        jobs.append(_Job(entry, url, target))
    total = sum(job.entry.size for job in jobs)
    lock = threading.Lock()
    stop = threading.Event()
    with Progress(total or None, unit="bytes", label=label, enabled=progress) as bar:

        def count(amount: int) -> None:
            with lock:
                bar.update(amount)

        def run(job: _Job) -> None:
            if stop.is_set():
                return
            if is_present(job.target, job.entry):
                count(job.entry.size)
                return
            fetch_verified(ctx, job.url, job.target, job.entry, count)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures: list[Future[None]] = [pool.submit(run, job) for job in jobs]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f in done and f.exception() is not None), None)
            if failed is not None:
                stop.set()
                for future in futures:
                    future.cancel()
                wait(futures)
                exc = failed.exception()
                assert exc is not None
                raise exc
