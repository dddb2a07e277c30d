"""The server's one signing scheme: URLs and tokens that carry their own permission.

Everything signed (upload URLs, direct download URLs, history export URLs, run page
tokens) is an HMAC-SHA256 under the server's secret of a *purpose* (``PUT``, ``GET``,
...), a *subject* (the strings naming what is granted) and an expiry time:
:func:`signature` makes one, :func:`verify` checks one. URL builders call these two and
nothing else.

What a run's URL grants is named by a :class:`RunGrant`: the run's entity, project and
name plus the run's random ``url_key`` (made when the run is created, never reused), and
the file name. A request is checked in two steps:

1. :func:`verify`, on the request alone (no database): a bad, altered or expired
   signature is refused the same way whether or not the run exists;
2. :meth:`RunGrant.matches` on the run found by name: a run deleted since (or deleted
   and made again under the same name) has another key, so its old URLs are dead.

URL shapes (``base`` is the server's public base URL, ``E/P/R`` entity, project, run):

- upload: ``PUT {base}/storage/upload/E/P/R/{name}?grant=K&expires=T&signature=S``
- download: ``GET {base}/storage/files/E/P/R/{name}`` with Basic auth, or with
  ``?grant=K&expires=T&signature=S`` and no auth (``File.directUrl``)
- history export: ``GET {base}/storage/history/E/P/R/{name}?grant=K&expires=T&signature=S``
- run page token: ``T.K.S`` (``GET /E/P/runs/R?token=...``)

```python
grant = RunGrant("alice", "mnist", "1a2b3c4d", key)
url = upload_url(secret, "http://127.0.0.1:8080", grant, "model.pt")
verify(secret, "PUT", grant.subject("model.pt"), expires, sig)  # None when valid
```
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from runapi_server.storage.connection import Row

UPLOAD_TTL_S = 3600
DOWNLOAD_TTL_S = 24 * 3600
PAGE_TTL_S = 3600

UPLOAD = "PUT"
DOWNLOAD = "GET"
HISTORY_EXPORT = "GET-HISTORY-EXPORT"
PAGE = "page"

_EXPIRES_RE = re.compile(r"[0-9]{1,15}")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")

NOT_SIGNED = "this URL is not signed: it needs 'grant', 'expires' and 'signature' parameters"
RUN_GONE = "this signed URL is no longer valid: its run was deleted"


# --------------------------------------------------------------------------- primitive


def signature(secret: bytes, purpose: str, subject: Sequence[str], expires: int) -> str:
    """The hex HMAC-SHA256 of ``purpose``, ``subject`` and ``expires`` under ``secret``.

    The parts are encoded as one JSON array, so no two different subjects sign alike.
    """
    message = json.dumps([purpose, *subject, expires]).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify(
    secret: bytes,
    purpose: str,
    subject: Sequence[str],
    expires: str | None,
    sig: str | None,
) -> str | None:
    """None when ``sig`` is a valid, unexpired signature of this purpose and subject, else
    why it is refused. Any text is safe to pass (non-ASCII, huge, empty)."""
    if not expires or not sig:
        return NOT_SIGNED
    if not _EXPIRES_RE.fullmatch(expires):
        return "invalid 'expires' parameter: not a unix time"
    expected = signature(secret, purpose, subject, int(expires))
    if not _SIGNATURE_RE.fullmatch(sig) or not hmac.compare_digest(expected, sig):
        return "invalid signature: the URL was altered or is not for this file and method"
    if int(expires) < time.time():
        return "signed URL has expired: request a new one"
    return None


def _expiry(expires: int | None, ttl_s: int) -> int:
    return int(time.time()) + ttl_s if expires is None else expires


# --------------------------------------------------------------------------- run grants


def new_run_key() -> str:
    """A fresh random ``url_key`` for a new run."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class RunGrant:
    """What a run's signed URL names: the run by name, and the key it had when signed."""

    entity: str
    project: str
    run: str
    key: str

    @classmethod
    def of(cls, row: Row) -> RunGrant:
        """The grant of a run row (``runs.*`` with ``entity`` and ``project_name``)."""
        return cls(str(row["entity"]), str(row["project_name"]), str(row["name"]), row["url_key"])

    @classmethod
    def from_request(cls, params: Mapping[str, str], query: Mapping[str, str]) -> RunGrant:
        """The grant a request claims: path parameters and its ``grant`` parameter."""
        return cls(params["entity"], params["project"], params["run"], query.get("grant", ""))

    def subject(self, name: str) -> tuple[str, ...]:
        return (self.entity, self.project, self.run, self.key, name)

    def path(self) -> str:
        """``entity/project/run``, each segment quoted."""
        return "/".join(quote(part, safe="") for part in (self.entity, self.project, self.run))

    def matches(self, run: Row | None) -> bool:
        """Whether ``run`` (found by this grant's names) is still the run that was signed."""
        if run is None:
            return False
        stored = str(run["url_key"] or "")
        return bool(stored) and hmac.compare_digest(stored.encode(), self.key.encode())


def quote_name(name: str) -> str:
    """A file name as URL path segments (``/`` kept as the separator)."""
    return quote(name, safe="/")


def run_file_url(
    secret: bytes,
    base: str,
    route: str,
    purpose: str,
    grant: RunGrant,
    name: str,
    expires: int,
) -> str:
    """``{base}{route}/E/P/R/{name}`` signed for ``purpose`` until ``expires``."""
    sig = signature(secret, purpose, grant.subject(name), expires)
    query = urlencode({"grant": grant.key, "expires": expires, "signature": sig})
    return f"{base}{route}/{grant.path()}/{quote_name(name)}?{query}"


def check_run_url(
    secret: bytes, purpose: str, grant: RunGrant, name: str, query: Mapping[str, str]
) -> str | None:
    """Step 1 of a request's check: its signature (see the module docstring)."""
    expires, sig = query.get("expires"), query.get("signature")
    return verify(secret, purpose, grant.subject(name), expires, sig)


def upload_url(
    secret: bytes, base: str, grant: RunGrant, name: str, *, expires: int | None = None
) -> str:
    """Absolute signed ``PUT`` URL for file ``name`` of the granted run."""
    return run_file_url(
        secret, base, "/storage/upload", UPLOAD, grant, name, _expiry(expires, UPLOAD_TTL_S)
    )


def download_url(base: str, entity: str, project: str, run: str, name: str) -> str:
    """Absolute download URL (needs the owner's Basic auth)."""
    parts = "/".join(quote(part, safe="") for part in (entity, project, run))
    return f"{base}/storage/files/{parts}/{quote_name(name)}"


def direct_url(
    secret: bytes, base: str, grant: RunGrant, name: str, *, expires: int | None = None
) -> str:
    """Absolute signed ``GET`` URL, usable without auth until it expires."""
    return run_file_url(
        secret, base, "/storage/files", DOWNLOAD, grant, name, _expiry(expires, DOWNLOAD_TTL_S)
    )


def export_url(
    secret: bytes, base: str, grant: RunGrant, name: str, *, expires: int | None = None
) -> str:
    """Absolute signed URL of a history export file of the granted run."""
    expires = _expiry(expires, DOWNLOAD_TTL_S)
    return run_file_url(secret, base, "/storage/history", HISTORY_EXPORT, grant, name, expires)


# --------------------------------------------------------------------------- page tokens


def page_token(secret: bytes, grant: RunGrant, *, expires: int | None = None) -> str:
    """A run page token ``EXPIRES.KEY.SIGNATURE`` for the granted run."""
    expires = _expiry(expires, PAGE_TTL_S)
    return f"{expires}.{grant.key}.{signature(secret, PAGE, grant.subject(''), expires)}"


def check_page_token(
    secret: bytes, entity: str, project: str, run: str, token: str
) -> tuple[RunGrant, str | None]:
    """The grant a page token claims, and None when its signature is valid and unexpired
    for this run (else why it is refused)."""
    expires, _, rest = token.partition(".")
    key, _, sig = rest.partition(".")
    grant = RunGrant(entity, project, run, key)
    refused = verify(secret, PAGE, grant.subject(""), expires, sig)
    if refused is not None:
        refused = (
            "invalid or expired page token: it is not for this run or is too old;"
            " ask for a new one (run Run.to_html() again)"
        )
    return grant, refused


# --------------------------------------------------------------------------- artifact contents
# Artifact blobs and manifests are signed like everything else, with a subject of their
# own kind and database id. Those ids come from AUTOINCREMENT keys (migration step 3), so
# an id is never given to another blob or manifest after a deletion: a URL of a freed
# blob can never read a later one.

ARTIFACT_BLOB: str = "artifact-blob"
ARTIFACT_PART: str = "artifact-blob-part"
ARTIFACT_MANIFEST: str = "artifact-manifest"
_ARTIFACT_PATHS = {ARTIFACT_BLOB: "blob", ARTIFACT_PART: "blob-part", ARTIFACT_MANIFEST: "manifest"}


def _artifact_subject(kind: str, number: int, part: int | None) -> list[str]:
    return [kind, str(number), "" if part is None else str(part)]


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
    expires = _expiry(expires, UPLOAD_TTL_S if method == UPLOAD else DOWNLOAD_TTL_S)
    sig = signature(secret, method, _artifact_subject(kind, number, part), expires)
    path = f"{base}/artifact-storage/{_ARTIFACT_PATHS[kind]}/{number}"
    if part is not None:
        path += f"/{part}"
    return f"{path}?{urlencode({'expires': expires, 'signature': sig})}"


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
    if not expires or not sig:
        return "this URL is not signed: it needs 'expires' and 'signature' parameters"
    return verify(secret, method, _artifact_subject(kind, number, part), expires, sig)
