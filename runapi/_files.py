"""`File`: a file of a run, and downloading it."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ._context import Context
from ._exceptions import DownloadIntegrityError
from ._graphql import http_status_error, transport_error
from ._http import NO_AUTH, NO_DEADLINE, same_origin
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
        try:
            if with_auth:
                response = self._ctx.http.get(url, extensions=NO_DEADLINE)
            else:
                response = self._ctx.http.get(url, auth=NO_AUTH, extensions=NO_DEADLINE)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        if response.is_error:
            raise http_status_error(response, what)
        self._verify(len(response.content), hashlib.md5(response.content))
        return response.content

    def _verify(self, size: int, digest: Any) -> None:
        """`DownloadIntegrityError` unless `size` and the MD5 `digest` are what the server
        reported (each checked only when the server reported it)."""
        expected_size = self._fields.size_bytes
        if expected_size is not None and size != expected_size:
            raise DownloadIntegrityError(
                f"download of {self.name!r} is incomplete or altered: got {size} bytes, the"
                f" server reported {expected_size} (the file may also have changed since it"
                " was listed: list it again)",
                name=self.name,
                expected=f"{expected_size} bytes",
                received=f"{size} bytes",
            )
        md5 = base64.b64encode(digest.digest()).decode()
        if self.md5 and md5 != self.md5:
            raise DownloadIntegrityError(
                f"download of {self.name!r} is altered: its MD5 is {md5}, the server reported"
                f" {self.md5}",
                name=self.name,
                expected=self.md5,
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
        what = f"GET file {self.name!r}"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_name = str(target.parent / f".runapi-{secrets.token_hex(6)}")
        # 0o666 under the umask, as any file the user writes (mkstemp would give 0o600).
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                stream = (
                    self._ctx.http.stream("GET", url, extensions=NO_DEADLINE)
                    if with_auth
                    else self._ctx.http.stream("GET", url, auth=NO_AUTH, extensions=NO_DEADLINE)
                )
                digest = hashlib.md5()
                size = 0
                bar = Progress(self.size or None, unit="bytes", label=self.name, enabled=progress)
                with stream as response, bar:
                    if response.is_error:
                        response.read()
                        raise http_status_error(response, what)
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        bar.update(len(chunk))
            self._verify(size, digest)
            os.replace(tmp_name, target)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from exc
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        return target

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"
