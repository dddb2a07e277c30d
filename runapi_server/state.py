"""What a running server holds: its data dir, storage dir, database and signing secret.

The *storage dir* holds every byte the server keeps outside the database (run files,
artifact blobs and their multipart parts, history exports, under ``files/``); paths in
the database are relative to it (``files/12/ab34...``), so servers on several machines
that mount the same storage dir (a network filesystem) read each other's files. It
defaults to the data dir, which is the layout of every data dir made before it existed.

Instead of a directory, the storage may be an S3-compatible bucket (``storage_url``
``s3://bucket/prefix``, see :mod:`runapi_server.objects.s3`): the same keys name its
objects, and URLs handed to clients are the bucket's pre-signed ones.

The *signing secret* (HMAC key of upload, download and export URLs) comes from the
configuration (:func:`parse_signing_key`), else from ``signing.key`` in the storage dir,
made once: processes sharing the storage share the key either way.

```python
state = ServerState.open(Path("data"), storage_dir=Path("/shared/runapi"))
state.store  # LocalStore of /shared/runapi: every byte outside the database goes through it
```
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from runapi_server.limits import Limits
from runapi_server.objects import ObjectStore
from runapi_server.objects.local import LocalStore
from runapi_server.objects.s3 import S3Store
from runapi_server.storage.database import Database, open_database

SECRET_FILE = "signing.key"
MIN_SIGNING_KEY_BYTES = 32
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
MAKE_KEY_HINT = "make one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"


@dataclass(frozen=True)
class ServerState:
    data_dir: Path
    storage_dir: Path
    """The root every stored path (``files/...`` in the database) is relative to."""
    db: Database
    public_url: str | None
    limits: Limits = field(default_factory=Limits)
    signing_key: bytes | None = None
    """The configured secret; None: ``signing.key`` of the storage dir."""
    objects: ObjectStore | None = None
    """Where the bytes are (None: the storage dir, see :attr:`store`)."""

    @cached_property
    def store(self) -> ObjectStore:
        """Every byte outside the database goes through this (keys: ``files/...``)."""
        return self.objects if self.objects is not None else LocalStore(self.storage_dir)

    @property
    def bucket(self) -> S3Store | None:
        """The bucket when the storage is one (URLs handed to clients are then the
        bucket's pre-signed ones), else None."""
        store = self.store
        return store if isinstance(store, S3Store) else None

    @cached_property
    def secret(self) -> bytes:
        """The key that signs URLs: the configured one, else the storage dir's
        ``signing.key`` (made on first use: the ``runapi users`` commands, which sign
        nothing, leave no key behind)."""
        if self.signing_key is not None:
            return self.signing_key
        return _load_secret(self.storage_dir / SECRET_FILE)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        public_url: str | None = None,
        limits: Limits | None = None,
        *,
        storage_dir: Path | None = None,
        signing_key: bytes | None = None,
        database: str | None = None,
        storage_url: str | None = None,
    ) -> ServerState:
        """The state of a server on ``data_dir`` (made if missing) and ``storage_dir``
        (default: the data dir; made if missing). ``signing_key``: the secret from the
        configuration (see :func:`parse_signing_key`), else ``signing.key`` of the
        storage dir, made once. ``database``: a PostgreSQL URL, or ``None`` for the data
        dir's own database (see :func:`runapi_server.storage.database.open_database`).
        ``storage_url``: ``s3://bucket[/prefix]`` instead of a storage dir (the ``s3``
        extra); it needs ``signing_key`` (a bucket holds no ``signing.key``).
        Raises ``ValueError`` saying what is wrong with the settings."""
        data_dir = data_dir.resolve()
        objects: ObjectStore | None = None
        if storage_url is not None:
            if storage_dir is not None:
                raise ValueError("give a storage dir or a bucket URL, not both")
            objects = S3Store.of_url(storage_url, data_dir)
            if signing_key is None:
                raise ValueError(
                    f"storage {storage_url} is a bucket: the key that signs this server's"
                    " URLs must come from the configuration (--signing-key-file or"
                    f" RUNAPI_SIGNING_KEY), shared by every server on the bucket; {MAKE_KEY_HINT}"
                )
        data_dir.mkdir(parents=True, exist_ok=True)
        storage = storage_dir.resolve() if storage_dir is not None else data_dir
        storage.mkdir(parents=True, exist_ok=True)
        if signing_key is not None and len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(
                f"signing key has {len(signing_key)} bytes; at least"
                f" {MIN_SIGNING_KEY_BYTES} are needed"
            )
        return cls(
            data_dir=data_dir,
            storage_dir=storage,
            db=open_database(database, data_dir),
            public_url=public_url.rstrip("/") if public_url else None,
            limits=limits or Limits(),
            signing_key=signing_key,
            objects=objects,
        )


def parse_signing_key(text: str, origin: str) -> bytes:
    """The secret a signing key setting holds: hex (64+ digits) or base64 (of 32+ bytes),
    surrounding whitespace ignored. ``origin`` names the setting in the ``ValueError``
    raised for anything else or anything shorter.

    >>> len(parse_signing_key("ab" * 32, "RUNAPI_SIGNING_KEY"))
    32
    """
    value = text.strip()
    if not value:
        raise ValueError(f"{origin} is empty; {MAKE_KEY_HINT}")
    if _HEX_RE.fullmatch(value) and len(value) % 2 == 0:
        key = bytes.fromhex(value)
    else:
        try:
            key = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{origin} is neither hex nor base64 text; {MAKE_KEY_HINT}") from None
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise ValueError(
            f"{origin} holds a {len(key)}-byte key; at least {MIN_SIGNING_KEY_BYTES} bytes"
            f" ({2 * MIN_SIGNING_KEY_BYTES} hex digits) are needed; {MAKE_KEY_HINT}"
        )
    return key


def read_signing_key_file(path: Path) -> bytes:
    """The secret in a key file (hex or base64 text, see :func:`parse_signing_key`).
    Raises ``ValueError`` naming the file when it is unreadable or holds no valid key."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read signing key file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(
            f"signing key file {path} is not hex or base64 text (a data dir's own"
            f" signing.key is raw bytes: convert it with `xxd -p -c 32 signing.key`);"
            f" {MAKE_KEY_HINT}"
        ) from None
    return parse_signing_key(text, f"signing key file {path}")


def _load_secret(path: Path) -> bytes:
    """The key that signs upload and download URLs; made once per storage dir.

    Made under a unique temporary name and linked into place without replacing: when two
    processes sharing the storage start at once, one key wins and both read it.
    """
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        tmp.write_bytes(secrets.token_bytes(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError:  # a filesystem without hard links
            if not path.exists():
                tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes()
