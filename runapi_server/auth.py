"""API keys and HTTP Basic authentication (user ``api``, password = the key)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from runapi_server.storage import users as stored_users
from runapi_server.storage.database import Database

KEY_PREFIX = "local-"
UNAUTHORIZED = "missing or invalid API key: send HTTP Basic auth with user 'api' and your key"
KNOWN_KEY_SECONDS = 5.0
"""How long a key found in the database is trusted without asking it again.

This is the bound on staleness across processes: a key revoked by ``runapi users revoke``
(or through another server process on the same database) stops working on every process
within this many seconds. Unknown keys are never cached (a key created a moment ago, in
another process, works at once everywhere).
"""
MAX_KNOWN_KEYS = 1024


@dataclass(frozen=True)
class AuthUser:
    id: int
    name: str  # also the user's entity

    @property
    def entity(self) -> str:
        return self.name


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_hex(20)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fingerprint(key_hash: str) -> str:
    """How a key is shown (``apiKeys``, ``runapi users list``): ``sha256:`` and 12 hex digits
    of its hash."""
    return "sha256:" + key_hash[:12]


def key_from_header(authorization: str | None) -> str | None:
    """The API key in an ``Authorization: Basic base64(api:KEY)`` header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    _user, sep, key = decoded.partition(":")
    return key if sep and key else None


_known: dict[tuple[str, str], tuple[AuthUser, float]] = {}
_known_lock = threading.Lock()


def known_user(db: Database, authorization: str | None) -> AuthUser | None:
    """The user of a key seen recently (no database read, so callers on the event loop
    can skip a thread hop), else None: then :func:`authenticate` decides."""
    key = key_from_header(authorization)
    if key is None:
        return None
    with _known_lock:
        known = _known.get((db.description, hash_key(key)))
    return known[0] if known is not None and known[1] > time.monotonic() else None


def authenticate(db: Database, authorization: str | None) -> AuthUser | None:
    """The user whose API key the ``Authorization`` header carries, else None.

    ```python
    authenticate(db, "Basic " + base64.b64encode(b"api:local-...").decode())
    ```
    """
    key = key_from_header(authorization)
    if key is None:
        return None
    cache_key = (db.description, hash_key(key))
    now = time.monotonic()
    with _known_lock:
        known = _known.get(cache_key)
    if known is not None and known[1] > now:
        return known[0]
    user = _lookup_key(db, cache_key[1])
    if user is not None:
        with _known_lock:
            if len(_known) >= MAX_KNOWN_KEYS:
                _known.clear()
            _known[cache_key] = (user, now + KNOWN_KEY_SECONDS)
    return user


def _lookup_key(db: Database, key_hash: str) -> AuthUser | None:
    row = stored_users.user_for_key(db.read(), key_hash)
    return AuthUser(id=row["id"], name=row["name"]) if row else None
