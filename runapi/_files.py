"""`File`: a file of a run, and downloading it."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from . import _rest as rest
from ._context import Context
from ._exceptions import DownloadIntegrityError
from ._http import same_origin
from ._progress import Progress

if TYPE_CHECKING:
    from runapi_generated.fragments import FileFields


def _target(root: str | os.PathLike[str], name: str) -> Path:
    base = Path(root)
    target = base / name
    resolved_base = base.resolve()
    if resolved_base not in target.resolve().parents:
        raise ValueError(f"file name {name!r} escapes the download root {str(base)!r}")
    return target


class File:
    """A file of a run (`run.files()`, `run.file(name)`, `run.upload_file(...)`).

    ```python
    f = run.file("wandb-metadata.json")
    f.name, f.size, f.md5
    path = f.download(root="out", replace=True)
    ```
    """

    def __init__(self, ctx: Context, fields: FileFields) -> None:
        self._ctx = ctx
        self._fields = fields

    @property
    def id(self) -> str:
        """The server's opaque file id."""
        return self._fields.id

    @property
    def name(self) -> str:
        """The file's path within the run, e.g. `media/plot.png`."""
        return self._fields.name

    @property
    def size(self) -> int:
        """Size in bytes (0 when the server does not know)."""
        return self._fields.size_bytes or 0

    @property
    def md5(self) -> str | None:
        """Base64 MD5 of the content, as the server reports it."""
        return self._fields.md_5

    @property
    def mimetype(self) -> str | None:
        """MIME type."""
        return self._fields.mimetype

    @property
    def updated_at(self) -> datetime | None:
        """Last modification (UTC, naive)."""
        return self._fields.updated_at

    @property
    def url(self) -> str | None:
        """Download URL (needs the API key when on the API host)."""
        return self._fields.url

    @property
    def direct_url(self) -> str:
        """Signed download URL (no key needed)."""
        return self._fields.direct_url

    def _source(self) -> tuple[str, bool]:
        """The URL to GET and whether the API key may be sent to it."""
        base = self._ctx.settings.base_url
        url = self._fields.url
        if url and same_origin(httpx.URL(base).join(url), base):
            return url, True
        return self._fields.direct_url, False

    def read_bytes(self) -> bytes:
        """The file's content.

        ```python
        data = run.file("config.yaml").read_bytes()
        ```
        """
        url, with_auth = self._source()
        what = f"GET file {self.name!r}"
        response = rest.send(self._ctx, "GET", url, what=what, signed=not with_auth, long=True)
        md5 = rest.md5_base64(hashlib.md5(response.content))
        if not self._expected().matches(len(response.content), md5):
            raise self._mismatch(len(response.content), md5)
        return response.content

    def _expected(self) -> rest.Expected:
        return rest.Expected(self._fields.size_bytes, self.md5 or None)

    def _mismatch(self, size: int, md5: str) -> DownloadIntegrityError:
        """The error for received bytes that are not what the server reported."""
        expected = self._fields.size_bytes
        if expected is not None and size != expected:
            return DownloadIntegrityError(
                f"download of {self.name!r} is incomplete or altered: got {size} bytes, the"
                f" server reported {expected} (the file may also have changed since it"
                " was listed: list it again)",
                name=self.name,
                expected=f"{expected} bytes",
                received=f"{size} bytes",
            )
        return DownloadIntegrityError(
            f"download of {self.name!r} is altered: its MD5 is {md5}, the server reported"
            f" {self.md5}",
            name=self.name,
            expected=str(self.md5),
            received=md5,
        )

    def download(
        self,
        root: str | os.PathLike[str] = ".",
        replace: bool = False,
        progress: bool | None = None,
    ) -> Path:
        """Download to `root/<name>` and return that path.

        Refuses (`FileExistsError`) to overwrite an existing file unless `replace=True`.
        The file appears whole or not at all (written to a temporary file, then renamed):
        its size and MD5 are checked against what the server reported, and a mismatch
        raises `DownloadIntegrityError` leaving nothing at the target.
        A progress bar in bytes shows on a terminal unless `progress=False`.

        ```python
        path = run.file("model.txt").download(root="downloads")
        ```
        """
        target = _target(root, self.name)
        if target.exists() and not replace:
            raise FileExistsError(f"{str(target)!r} exists; pass replace=True to overwrite it")
        url, with_auth = self._source()
        with Progress(self.size or None, unit="bytes", label=self.name, enabled=progress) as bar:
            rest.download(
                self._ctx,
                url,
                target,
                what=f"GET file {self.name!r}",
                signed=not with_auth,
                expected=self._expected(),
                mismatch=self._mismatch,
                on_bytes=bar.update,
            )
        return target

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"
