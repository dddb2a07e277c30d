"""Signed, expiring file URLs: the URL itself carries the permission (no auth header).

A signature is an HMAC-SHA256, under the server's secret, of the HTTP method, the run's
database id, the file name and the expiry time, so it grants one method on one file of
one run until it expires.

URL shapes (``base`` is the server's public base URL):

- upload: ``PUT {base}/storage/upload/{run_db_id}/{name}?expires=T&signature=S``
- download: ``GET {base}/storage/files/{entity}/{project}/{run}/{name}`` with Basic auth,
  or with ``?expires=T&signature=S`` appended and no auth (``File.directUrl``).

```python
url = upload_url(secret, "http://127.0.0.1:8080", 7, "model.pt")
verify(secret, "PUT", 7, "model.pt", expires, signature)  # -> None when valid, else a message
```
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlencode

UPLOAD_TTL_S = 3600
DOWNLOAD_TTL_S = 24 * 3600


def signature(secret: bytes, method: str, run_db_id: int, name: str, expires: int) -> str:
    message = f"{method}\n{run_db_id}\n{name}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _query(secret: bytes, method: str, run_db_id: int, name: str, expires: int) -> str:
    sig = signature(secret, method, run_db_id, name, expires)
    return urlencode({"expires": expires, "signature": sig})


def quote_name(name: str) -> str:
    """A file name as URL path segments (``/`` kept as the separator)."""
    return quote(name, safe="/")


def upload_url(
    secret: bytes, base: str, run_db_id: int, name: str, *, expires: int | None = None
) -> str:
    """Absolute signed ``PUT`` URL for file ``name`` of run ``run_db_id``."""
    expires = int(time.time()) + UPLOAD_TTL_S if expires is None else expires
    query = _query(secret, "PUT", run_db_id, name, expires)
    return f"{base}/storage/upload/{run_db_id}/{quote_name(name)}?{query}"


def download_url(base: str, entity: str, project: str, run: str, name: str) -> str:
    """Absolute download URL (needs the owner's Basic auth)."""
    parts = "/".join(quote(part, safe="") for part in (entity, project, run))
    return f"{base}/storage/files/{parts}/{quote_name(name)}"


def direct_url(
    secret: bytes,
    base: str,
    run_db_id: int,
    entity: str,
    project: str,
    run: str,
    name: str,
    *,
    expires: int | None = None,
) -> str:
    """Absolute signed ``GET`` URL, usable without auth until it expires."""
    expires = int(time.time()) + DOWNLOAD_TTL_S if expires is None else expires
    query = _query(secret, "GET", run_db_id, name, expires)
    return f"{download_url(base, entity, project, run, name)}?{query}"


def verify(
    secret: bytes,
    method: str,
    run_db_id: int,
    name: str,
    expires: str | None,
    sig: str | None,
) -> str | None:
    """None when ``sig`` is valid and unexpired for this request, else why it is refused."""
    if not expires or not sig:
        return "this URL is not signed: it needs 'expires' and 'signature' query parameters"
    try:
        expires_at = int(expires)
    except ValueError:
        return "invalid 'expires' parameter: not an integer"
    expected = signature(secret, method, run_db_id, name, expires_at)
    if not hmac.compare_digest(expected, sig):
        return "invalid signature: the URL was altered or is not for this file and method"
    if expires_at < time.time():
        return "signed URL has expired: request a new one"
    return None


# --------------------------------------------------------------------------- artifact contents
# Artifact blobs and manifests are signed with the same `signature()`: the number is the
# blob's (or manifest's) database id and the name a fixed marker starting with "/", which
# no run file name can be, so a URL of one kind never verifies as another.

ARTIFACT_BLOB: str = "/artifact-blob"
ARTIFACT_PART: str = "/artifact-blob-part"
ARTIFACT_MANIFEST: str = "/artifact-manifest"


def artifact_url(
    secret: bytes,
    base: str,
    method: str,
    kind: str,
    number: int,
    *,
    part: int | None = None,
    expires: int | None = None,
) -> str:
    """Absolute signed URL of an artifact blob, blob part or manifest (`kind` above).

    ```python
    artifact_url(secret, base, "PUT", ARTIFACT_BLOB, 12)  # .../artifact-storage/blob/12?...
    ```
    """
    ttl = UPLOAD_TTL_S if method == "PUT" else DOWNLOAD_TTL_S
    expires = int(time.time()) + ttl if expires is None else expires
    name = kind if part is None else f"{kind}/{part}"
    path = f"{base}/artifact-storage{kind.replace('/artifact-', '/')}/{number}"
    if part is not None:
        path += f"/{part}"
    return f"{path}?{_query(secret, method, number, name, expires)}"


def verify_artifact(
    secret: bytes,
    method: str,
    kind: str,
    number: int,
    part: int | None,
    expires: str | None,
    sig: str | None,
) -> str | None:
    """None when an :func:`artifact_url` signature is valid for this request, else why not."""
    name = kind if part is None else f"{kind}/{part}"
    return verify(secret, method, number, name, expires, sig)
